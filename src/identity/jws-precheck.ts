import { BrokerError } from "../errors/broker-error.js";
import { isAsymmetricAlgorithm, type AsymmetricAlgorithm } from "./algorithms.js";
import type { TokenLabel } from "./types.js";
import { decodeJsonObject } from "../lib/json-segment.js";

/** Default cap on a whole token, in characters (all of which must be ASCII to pass). */
export const DEFAULT_MAX_TOKEN_BYTES = 16 * 1024;
/** Cap on the encoded protected header: real headers are a few hundred bytes. */
const MAX_HEADER_CHARS = 4096;
const MAX_KID_CHARS = 256;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * Header parameters refused outright. jku/x5u/jwk/x5c would let the token pick its own key or
 * make us fetch a URL it names (RFC 8725 §3.10); crit/b64 change how the JWS is processed
 * (RFC 7515 §4.1.11, RFC 7797); zip/enc belong to JWE, never to a signed identity token.
 */
const FORBIDDEN_HEADERS = ["jku", "x5u", "jwk", "x5c", "crit", "b64", "zip", "enc"] as const;

/** The parsed, policy-checked protected header. */
export interface PrecheckedHeader {
  readonly alg: AsymmetricAlgorithm;
  readonly kid?: string | undefined;
  readonly typ?: unknown;
  readonly [name: string]: unknown;
}

/** What {@link precheckJws} learned without any cryptography. */
export interface PrecheckResult {
  readonly header: PrecheckedHeader;
  /** The payload's `iss`, used only to route to one configured issuer. Not yet trusted. */
  readonly unverifiedIss: string;
}

/** Options for {@link precheckJws}. */
export interface PrecheckOptions {
  readonly maxBytes?: number;
  readonly label?: TokenLabel;
}

/**
 * Cheap structural checks run before any key lookup, fetch or signature verification, so
 * malformed or hostile input costs almost nothing. Throws BrokerError `invalid_request`.
 */
export function precheckJws(token: string, options: PrecheckOptions = {}): PrecheckResult {
  const label = options.label ?? "subject_token";
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_TOKEN_BYTES;
  const reject = (description: string, detail: string): never => {
    throw new BrokerError("invalid_request", `${label} ${description}`, { detail: `${label}: ${detail}` });
  };
  if (token.length > maxBytes) reject("is too large", `${token.length} characters, limit ${maxBytes}`);
  const segments = token.split(".");
  // RFC 7516 §9: five segments is a JWE; encrypted identity tokens are not accepted.
  if (segments.length === 5) reject("must be a signed JWT, not an encrypted one (JWE)", "five segments");
  // RFC 7515 §7.1: compact serialization is exactly three base64url segments, no padding.
  if (segments.length !== 3 || !segments.every((s) => BASE64URL.test(s) && s.length % 4 !== 1)) {
    // The usual cause: a token read from a file with its trailing newline (curl --data-urlencode
    // subject_token@file keeps it). Say so rather than trim: the token is what was signed, byte for byte.
    const hint = /\s$/.test(token) ? " (it ends with whitespace, such as the newline of a token file: remove it)" : "";
    reject(`is not a compact JWS${hint}`, `expected three unpadded base64url segments, got ${segments.length}${hint === "" ? "" : ", trailing whitespace"}`);
  }
  const [encodedHeader = "", encodedPayload = ""] = segments;
  if (encodedHeader.length > MAX_HEADER_CHARS) reject("header is too large", `${encodedHeader.length} characters`);
  const header = decodeJsonObject(encodedHeader);
  if (header === undefined) return reject("header is not a JSON object", "header did not parse");
  checkHeader(header, reject);
  const payload = decodeJsonObject(encodedPayload);
  if (payload === undefined) return reject("payload is not a JSON object", "payload did not parse");
  if (typeof payload.iss !== "string" || payload.iss === "") return reject('is missing the "iss" claim', "no string iss");
  return { header: header as PrecheckedHeader, unverifiedIss: payload.iss };
}

function checkHeader(header: Record<string, unknown>, reject: (description: string, detail: string) => never): void {
  const { alg, kid } = header;
  // RFC 8725 §3.1: only algorithms we chose; never "none", never HMAC with a public key.
  if (!isAsymmetricAlgorithm(alg)) {
    reject("algorithm is not accepted", `alg ${typeof alg === "string" ? JSON.stringify(alg.slice(0, 32)) : typeof alg}`);
  }
  for (const name of FORBIDDEN_HEADERS) {
    if (Object.hasOwn(header, name)) reject(`header parameter "${name}" is not accepted`, `header carries ${name}`);
  }
  if (kid !== undefined && (typeof kid !== "string" || kid.length === 0 || kid.length > MAX_KID_CHARS)) {
    reject('header "kid" is invalid', "kid is not a short non-empty string");
  }
}
