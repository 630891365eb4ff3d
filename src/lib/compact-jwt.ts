import { base64url, errors, type CryptoKey, type JWTPayload } from "jose";
import { validateClaims, type ClaimRules } from "./jwt-claims.js";
import { checkVerificationKey, isVerifiableAlgorithm, verifyJwsSignature, type JwsAlgorithm, type KeyObjects } from "./jws-signature.js";

/** What {@link verifyCompactJwt} checks a token against: jose's `jwtVerify` options as we use them. */
export interface JwtRules extends ClaimRules {
  /** RFC 8725 §3.1: the only `alg` values accepted (jose's `algorithms` option). */
  readonly algorithms: ReadonlySet<string>;
}

/** The protected header, as parsed here and handed to a key resolver. */
export type ProtectedHeader = Readonly<Record<string, unknown>>;

/** A key, or a function that finds it from the protected header (jose's `getKey`). */
export type KeyInput = CryptoKey | ((header: ProtectedHeader) => Promise<CryptoKey>);

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });
const CANONICAL_SEGMENT = /^[A-Za-z0-9_-]*$/;
const NON_ASCII = /[\u0080-\uffff]/;
/** jose's JWS_RECOGNIZED: the only `crit` extension it understands (RFC 7797 `b64`). */
const RECOGNIZED_CRIT: ReadonlySet<string> = new Set(["b64"]);

/**
 * jose's `jwtVerify` for a compact JWS, step for step and error for error (its
 * `lib/jws_verify.js` `verifyCompact`/`verifySignature`, then `lib/jwt_claims_set.js`), with the
 * signature checked synchronously by node:crypto on the key's cached KeyObject instead of
 * WebCrypto's `subtle.verify`. The differential tests in test/lib/ and test/credentials/ hold the two equal.
 */
export async function verifyCompactJwt(token: string, key: KeyInput, rules: JwtRules, keyObjects: KeyObjects): Promise<JWTPayload> {
  const { 0: encodedHeader = "", 1: encodedPayload = "", 2: encodedSignature = "", length } = token.split(".");
  if (length !== 3) throw new errors.JWSInvalid("Invalid Compact JWS");
  const header = parseProtectedHeader(encodedHeader);
  const b64 = payloadIsEncoded(header);
  const alg = checkedAlgorithm(header, rules.algorithms);
  // RFC 7797 §5.2: an unencoded compact payload must still be ASCII (checked before the key, as jose does).
  if (!b64 && NON_ASCII.test(encodedPayload)) throw new errors.JWSInvalid("JWS Compact Serialization payload must use only ASCII characters");
  const cryptoKey = typeof key === "function" ? await key(header) : key;
  if (b64 && NON_ASCII.test(encodedPayload)) throw new errors.JWSInvalid("The payload is not a valid base64url string");
  const signature = decodeSegment(encodedSignature, "signature");
  checkVerificationKey(alg, cryptoKey);
  const signingInput = Buffer.from(token.slice(0, encodedHeader.length + 1 + encodedPayload.length), "latin1");
  verifyJwsSignature(alg, keyObjects.of(cryptoKey), signingInput, signature);
  // RFC 7519 §7.2 step 7: a JWT's payload is base64url-encoded; b64: false is no JWT.
  if (!b64) throw new errors.JWTInvalid("JWTs MUST NOT use unencoded payload");
  return validateClaims(header, decodeSegment(encodedPayload, "payload"), rules);
}

/**
 * jose's base64url decoding, exactly: the common canonical segment through Buffer (the same
 * bytes), anything unusual (padding, whitespace, a stray character) through jose's own decoder,
 * so that what it tolerates and what it refuses stay jose's.
 */
function decodeSegment(segment: string, label: string): Uint8Array {
  if (CANONICAL_SEGMENT.test(segment) && segment.length % 4 !== 1) return Buffer.from(segment, "base64url");
  try {
    return base64url.decode(segment);
  } catch (cause) {
    throw new errors.JWSInvalid(`Failed to base64url decode the ${label}`, { cause });
  }
}

function parseProtectedHeader(encodedHeader: string): ProtectedHeader {
  let parsed: unknown;
  try {
    parsed = JSON.parse(STRICT_UTF8.decode(decodeSegment(encodedHeader, "protected header")));
  } catch (cause) {
    throw new errors.JWSInvalid("JWS Protected Header is invalid", { cause });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new errors.JWSInvalid("JWS Protected Header is invalid");
  return parsed as ProtectedHeader;
}

/**
 * RFC 7515 §4.1.11 `crit` as jose checks it (no extensions beyond `b64` are recognized), then
 * RFC 7797 `b64`: only when `crit` names it does it count, and it must be a boolean.
 */
function payloadIsEncoded(header: ProtectedHeader): boolean {
  const { crit } = header;
  if (crit === undefined) return true;
  if (!Array.isArray(crit) || crit.length === 0 || crit.some((name) => typeof name !== "string" || name.length === 0)) {
    throw new errors.JWSInvalid('"crit" (Critical) Header Parameter MUST be an array of non-empty strings when present');
  }
  for (const name of crit as string[]) {
    if (!RECOGNIZED_CRIT.has(name)) throw new errors.JOSENotSupported(`Extension Header Parameter "${name}" is not recognized`);
    if (!Object.hasOwn(header, name) || header[name] === undefined) throw new errors.JWSInvalid(`Extension Header Parameter "${name}" is missing`);
  }
  if (!crit.includes("b64")) return true;
  if (typeof header.b64 !== "boolean") throw new errors.JWSInvalid('The "b64" (base64url-encode payload) Header Parameter must be a boolean');
  return header.b64;
}

function checkedAlgorithm(header: ProtectedHeader, allowed: ReadonlySet<string>): JwsAlgorithm {
  const { alg } = header;
  if (typeof alg !== "string" || alg === "") throw new errors.JWSInvalid('JWS "alg" (Algorithm) Header Parameter missing or invalid');
  if (!allowed.has(alg)) throw new errors.JOSEAlgNotAllowed('"alg" (Algorithm) Header Parameter value not allowed');
  // Callers allow only algorithms verified here (identity's ASYMMETRIC_ALGORITHMS, the broker's ES256): a guard.
  if (!isVerifiableAlgorithm(alg)) throw new errors.JOSENotSupported(`alg ${alg} is not supported either by JOSE or your javascript runtime`);
  return alg;
}
