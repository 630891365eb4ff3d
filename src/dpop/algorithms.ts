/**
 * JWS algorithms accepted for DPoP proofs (RFC 9449 §4.2, §11.6): asymmetric only, each one
 * verified by a test. `none` and the HMAC family are absent on purpose (a proof is signed by a key
 * the client holds alone). Advertised as `dpop_signing_alg_values_supported` (RFC 9449 §5.1) and in
 * the `algs` of a DPoP challenge (§7.1), so what is listed here is exactly what is accepted.
 */
export const DPOP_ALGORITHMS = [
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
  "PS256",
  "PS384",
  "PS512",
  "RS256",
  "RS384",
  "RS512",
] as const;

export type DpopAlgorithm = (typeof DPOP_ALGORITHMS)[number];

const ACCEPTED: ReadonlySet<string> = new Set(DPOP_ALGORITHMS);

export function isDpopAlgorithm(alg: unknown): alg is DpopAlgorithm {
  return typeof alg === "string" && ACCEPTED.has(alg);
}

/** RFC 9449 §4.2: the `typ` of a DPoP proof. */
export const DPOP_TYP = "dpop+jwt";

/** The `algs` value of a `WWW-Authenticate: DPoP` challenge (RFC 9449 §7.1). */
export const DPOP_ALGS_PARAMETER = DPOP_ALGORITHMS.join(" ");
