import { constants, KeyObject, verify, type VerifyKeyObjectInput, type VerifyPublicKeyInput, type webcrypto } from "node:crypto";
import { errors, type CryptoKey } from "jose";

/**
 * How one JWS algorithm verifies (RFC 7518 §3), as two halves: what jose requires of the
 * CryptoKey it is given (the WebCrypto algorithm it was imported for), and the node:crypto call
 * that checks the signature synchronously on the same key as a KeyObject.
 */
interface SignatureScheme {
  /** The CryptoKey's algorithm must be exactly this (jose `checkCryptoKey`). */
  readonly keyAlgorithm: { readonly name: string; readonly hash?: string; readonly namedCurve?: string };
  /** Digest for node:crypto `verify`; null for EdDSA, which hashes inside the scheme. */
  readonly digest: string | null;
  /** Padding or signature encoding handed to node:crypto with the key. */
  readonly verifyOptions: Omit<VerifyKeyObjectInput, "key">;
  /** ECDSA: the exact IEEE P1363 `r || s` length (RFC 7518 §3.4); anything else, DER included, fails. */
  readonly signatureBytes?: number;
  /** RSA: the smallest modulus accepted (RFC 7518 §3.3, §3.5). */
  readonly minRsaBits?: number;
}

const pkcs1 = (bits: 256 | 384 | 512): SignatureScheme => ({
  keyAlgorithm: { name: "RSASSA-PKCS1-v1_5", hash: `SHA-${bits}` },
  digest: `sha${bits}`,
  verifyOptions: { padding: constants.RSA_PKCS1_PADDING },
  minRsaBits: 2048,
});

// RFC 7518 §3.5: MGF1 with the same hash (OpenSSL's default) and a salt as long as the hash.
const pss = (bits: 256 | 384 | 512): SignatureScheme => ({
  keyAlgorithm: { name: "RSA-PSS", hash: `SHA-${bits}` },
  digest: `sha${bits}`,
  verifyOptions: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: bits / 8 },
  minRsaBits: 2048,
});

const ecdsa = (namedCurve: string, bits: 256 | 384 | 512, signatureBytes: number): SignatureScheme => ({
  keyAlgorithm: { name: "ECDSA", namedCurve },
  digest: `sha${bits}`,
  verifyOptions: { dsaEncoding: "ieee-p1363" },
  signatureBytes,
});

/** The JWS algorithms verified here: every asymmetric one the broker accepts (identity/algorithms.ts). */
export type JwsAlgorithm = "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" | "ES256" | "ES384" | "ES512" | "EdDSA";

/** jose 6 accepts only Ed25519 under "EdDSA" (its key set selects `crv: Ed25519`, never Ed448). */
const SCHEMES: Readonly<Record<JwsAlgorithm, SignatureScheme>> = {
  RS256: pkcs1(256),
  RS384: pkcs1(384),
  RS512: pkcs1(512),
  PS256: pss(256),
  PS384: pss(384),
  PS512: pss(512),
  ES256: ecdsa("P-256", 256, 64),
  ES384: ecdsa("P-384", 384, 96),
  ES512: ecdsa("P-521", 512, 132),
  EdDSA: { keyAlgorithm: { name: "Ed25519" }, digest: null, verifyOptions: {} },
};

/** True when {@link verifyJwsSignature} knows `alg`. */
export function isVerifiableAlgorithm(alg: string): alg is JwsAlgorithm {
  return Object.hasOwn(SCHEMES, alg);
}

/**
 * The checks jose's `prepareKey`, `checkCryptoKey` and `checkModulusLength` make on a CryptoKey
 * before verifying, with their TypeErrors: a public key, imported for exactly this algorithm
 * (name, hash, curve), usable for verify, and an RSA modulus of at least 2048 bits.
 */
export function checkVerificationKey(alg: JwsAlgorithm, key: CryptoKey): void {
  const scheme = SCHEMES[alg];
  if (key.type !== "public") throw new TypeError(`CryptoKey instances must be of type "public" for the ${alg} algorithm`);
  const algorithm = key.algorithm as { name: string; hash?: { name?: string }; namedCurve?: string; modulusLength?: unknown };
  const expected = scheme.keyAlgorithm;
  const unusable = (value: string, property = "algorithm.name") => new TypeError(`CryptoKey does not support this operation, its ${property} must be ${value}`);
  if (algorithm.name !== expected.name) throw unusable(expected.name);
  if (expected.hash !== undefined && algorithm.hash?.name !== expected.hash) throw unusable(expected.hash, "algorithm.hash");
  if (expected.namedCurve !== undefined && algorithm.namedCurve !== expected.namedCurve) throw unusable(expected.namedCurve, "algorithm.namedCurve");
  if (!key.usages.includes("verify")) throw new TypeError("CryptoKey does not support this operation, its usages must include verify.");
  if (scheme.minRsaBits !== undefined && (typeof algorithm.modulusLength !== "number" || algorithm.modulusLength < scheme.minRsaBits)) {
    throw new TypeError(`${alg} requires key modulusLength to be ${scheme.minRsaBits} bits or larger`);
  }
}

/**
 * Verifies a JWS signature synchronously with node:crypto (no WebCrypto job, no thread-pool hop).
 * The key must have passed {@link checkVerificationKey} for `alg`. Throws jose's
 * `JWSSignatureVerificationFailed` when the signature does not verify, as jose does.
 */
export function verifyJwsSignature(alg: JwsAlgorithm, key: KeyObject, signingInput: Uint8Array, signature: Uint8Array): void {
  const scheme = SCHEMES[alg];
  if (scheme.signatureBytes !== undefined && signature.length !== scheme.signatureBytes) throw new errors.JWSSignatureVerificationFailed();
  let verified: boolean;
  try {
    const keyInput: VerifyKeyObjectInput | VerifyPublicKeyInput = { key, ...scheme.verifyOptions };
    verified = verify(scheme.digest, signingInput, keyInput, signature);
  } catch (cause) {
    throw new errors.JWSSignatureVerificationFailed(undefined, { cause });
  }
  if (!verified) throw new errors.JWSSignatureVerificationFailed();
}

/**
 * Each CryptoKey's KeyObject, converted once: the key sets hand out the same CryptoKey for a key
 * and algorithm until they are replaced, and a replaced key's entry goes with it.
 */
export class KeyObjects {
  private readonly byCryptoKey = new WeakMap<CryptoKey, KeyObject>();

  of(key: CryptoKey): KeyObject {
    let keyObject = this.byCryptoKey.get(key);
    if (keyObject === undefined) {
      keyObject = KeyObject.from(key as unknown as webcrypto.CryptoKey);
      this.byCryptoKey.set(key, keyObject);
    }
    return keyObject;
  }
}
