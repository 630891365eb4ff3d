import type { DpopAlgorithm } from "./algorithms.js";

/** Members that only a private or symmetric JWK carries (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2). */
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"] as const;

/** RSA bounds for a proof key: jose's floor, a ceiling that keeps one verification cheap. */
const MIN_RSA_BITS = 2048;
const MAX_RSA_BITS = 4096;
/** 65537, base64url: the only RSA public exponent accepted (a huge exponent makes verification slow). */
const RSA_EXPONENT = "AQAB";

const KEY_TYPE: Record<DpopAlgorithm, string> = {
  ES256: "EC",
  ES384: "EC",
  ES512: "EC",
  EdDSA: "OKP",
  Ed25519: "OKP",
  PS256: "RSA",
  PS384: "RSA",
  PS512: "RSA",
  RS256: "RSA",
  RS384: "RSA",
  RS512: "RSA",
};

/**
 * Why the `jwk` header of a DPoP proof is unacceptable for `alg`, or undefined when it is a public
 * key of the right type (RFC 9449 §4.2: "MUST NOT contain a private key"; §4.3 check 7). Checked
 * before any import, so a private key is refused by name rather than by what a library infers, and
 * an RSA key that would be slow to verify with never reaches the crypto.
 */
export function publicJwkProblem(jwk: unknown, alg: DpopAlgorithm): string | undefined {
  if (typeof jwk !== "object" || jwk === null || Array.isArray(jwk)) return "jwk header is not a JSON object";
  const key = jwk as Record<string, unknown>;
  for (const member of PRIVATE_MEMBERS) {
    if (Object.hasOwn(key, member)) return `jwk header holds the private member "${member}"`;
  }
  if (key.kty !== KEY_TYPE[alg]) return `jwk kty does not fit alg ${alg}`;
  if (key.kty === "RSA") {
    if (key.e !== RSA_EXPONENT) return "RSA jwk exponent must be 65537";
    const bits = typeof key.n === "string" ? Math.floor((key.n.length * 6) / 8) * 8 : 0;
    if (bits < MIN_RSA_BITS - 8 || bits > MAX_RSA_BITS + 8) return `RSA jwk modulus must be ${MIN_RSA_BITS}-${MAX_RSA_BITS} bits`;
  }
  return undefined;
}
