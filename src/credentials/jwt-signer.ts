import { sign } from "node:crypto";
import type { SigningKey } from "./signing-key.js";

/**
 * Signs a JWT with a broker key straight through node:crypto (RFC 7515 compact serialisation,
 * RFC 7518 §3.4 ES256 with the raw r||s signature). Measured ~4x cheaper than jose's SignJWT,
 * which goes through WebCrypto; every token it makes is verified by jose in the tests.
 * Only for the broker's own tokens: external tokens are verified with jose.
 */
export function signJwt(key: SigningKey, typ: string, payload: Readonly<Record<string, unknown>>): string {
  const signingInput = `${encodedHeader(key, typ)}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}`;
  const signature = sign("sha256", Buffer.from(signingInput), { key: key.privateKey, dsaEncoding: "ieee-p1363" });
  return `${signingInput}.${signature.toString("base64url")}`;
}

// One encoded header per key and typ: the header never changes between tokens.
const headers = new WeakMap<SigningKey, Map<string, string>>();

function encodedHeader(key: SigningKey, typ: string): string {
  let byTyp = headers.get(key);
  if (!byTyp) {
    byTyp = new Map();
    headers.set(key, byTyp);
  }
  let encoded = byTyp.get(typ);
  if (encoded === undefined) {
    encoded = Buffer.from(JSON.stringify({ alg: key.alg, typ, kid: key.kid })).toString("base64url");
    byTyp.set(typ, encoded);
  }
  return encoded;
}
