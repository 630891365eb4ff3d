/**
 * The JWS algorithms the broker ever accepts for external identity tokens: asymmetric only.
 * `none` and the HMAC family are absent on purpose: with HS* a verifier that holds only a
 * public key can be tricked into using it as an HMAC secret (RFC 8725 §2.1, §3.1).
 */
export const ASYMMETRIC_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
] as const;

export type AsymmetricAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];

/** JWT-SVID §2.1: the algorithms a JWT-SVID may be signed with (EdDSA is not among them). */
export const JWT_SVID_ALGORITHMS: readonly AsymmetricAlgorithm[] = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"];

/** Default per-issuer allowlist when issuers.yaml does not say otherwise. */
export const DEFAULT_ALGORITHMS: readonly AsymmetricAlgorithm[] = ["RS256", "ES256"];

const ALLOWED: ReadonlySet<string> = new Set(ASYMMETRIC_ALGORITHMS);

/** True when `alg` is one of the globally allowed asymmetric JWS algorithms. */
export function isAsymmetricAlgorithm(alg: unknown): alg is AsymmetricAlgorithm {
  return typeof alg === "string" && ALLOWED.has(alg);
}
