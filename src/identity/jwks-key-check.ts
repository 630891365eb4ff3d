import { importJWK, type JSONWebKeySet, type JWK } from "jose";
import { isAsymmetricAlgorithm } from "./algorithms.js";

/** An issuer key that cannot be used, described without any key material. */
export interface RefusedKey {
  /** Position in the issuer's key set. */
  readonly index: number;
  readonly kid: string | undefined;
  readonly kty: string;
  readonly reason: string;
}

/** The algorithm to import a key for: its own `alg` when it is a signature one, else one its type implies. */
function importAlgorithm(jwk: JWK): string | undefined {
  if (jwk.alg !== undefined) return isAsymmetricAlgorithm(jwk.alg) ? jwk.alg : undefined;
  if (jwk.kty === "RSA") return "RS256";
  if (jwk.kty === "OKP") return jwk.crv === "Ed25519" ? "EdDSA" : undefined;
  if (jwk.kty === "EC") return ({ "P-256": "ES256", "P-384": "ES384", "P-521": "ES512" } as Record<string, string>)[jwk.crv ?? ""];
  return undefined;
}

/** True for keys a verification could ever select: jose's key set skips other uses and operations. */
function mayVerify(jwk: JWK): boolean {
  if (jwk.use !== undefined && jwk.use !== "sig") return false;
  return jwk.key_ops === undefined || (Array.isArray(jwk.key_ops) && jwk.key_ops.includes("verify"));
}

/**
 * Imports every key a token could be verified with, as verification would, and drops the ones
 * that fail: an EC point off its curve, a truncated modulus, an unknown curve. A bad key is the
 * issuer's fault; left in the set it would make every token naming it fail inside WebCrypto (a 500)
 * instead of being refused. The good keys of the set stay usable.
 */
export async function dropUnusableKeys(jwks: JSONWebKeySet): Promise<{ jwks: JSONWebKeySet; refused: RefusedKey[] }> {
  const refused: RefusedKey[] = [];
  const keys: JWK[] = [];
  for (const [index, jwk] of jwks.keys.entries()) {
    if (!mayVerify(jwk)) {
      keys.push(jwk);
      continue;
    }
    const alg = importAlgorithm(jwk);
    // No signature algorithm fits it (an X25519 key, a secp256k1 one): jose never selects it for ours.
    if (alg === undefined) {
      keys.push(jwk);
      continue;
    }
    const kid = typeof jwk.kid === "string" ? jwk.kid.slice(0, 256) : undefined;
    try {
      await importJWK({ ...jwk, ext: true }, alg);
      keys.push(jwk);
    } catch (error) {
      // WebCrypto's and jose's messages name the problem, never the key's members.
      const name = error instanceof Error ? error.name : "Error";
      refused.push({ index, kid, kty: String(jwk.kty).slice(0, 16), reason: `cannot be imported (${name})` });
    }
  }
  return { jwks: { keys }, refused };
}
