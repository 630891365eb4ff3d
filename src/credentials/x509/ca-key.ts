import { createPrivateKey, createPublicKey, sign, type KeyObject } from "node:crypto";
import { promisify } from "node:util";

/**
 * The CA's signing key, as everything that signs with the CA sees it (SVIDs, CRLs, self-signed
 * roots, requests to an operator's PKI): a public half and a `sign` over the to-be-signed bytes.
 * The private half stays behind the port: in this process's closure (file custody) or in a
 * PKCS#11 token, so the same callers work with either.
 */
export interface CaKey {
  /** The key's public half (node:crypto), compared with the CA certificate's key. */
  readonly publicKey: KeyObject;
  /** WebCrypto-style signature parameters, as today. */
  readonly signingAlgorithm: CaSigningAlgorithm;
  /** The X.509 signatureValue over `tbs` (DER ECDSA-Sig-Value for ECDSA, PKCS#1 v1.5 bytes for RSA). */
  sign(tbs: Uint8Array): Promise<Buffer>;
  /** Where the private half lives: "file" (this process) or "pkcs11" (a token; never here). */
  readonly custody: "file" | "pkcs11";
}

export type CaSigningAlgorithm = { readonly name: "ECDSA"; readonly hash: "SHA-256" | "SHA-384" } | { readonly name: "RSASSA-PKCS1-v1_5"; readonly hash: "SHA-256" };

// With a callback, node:crypto signs on the libuv thread pool: the event loop keeps serving
// during an RSA signature (milliseconds). An ECDSA signature (~35 µs) is signed in place: the trip
// to the pool and back costs the main thread more than the signature itself.
const signOnPool = promisify(sign);

/**
 * The signature algorithm a CA key signs with: ECDSA with its curve's hash (P-256, P-384), or
 * RSASSA-PKCS1-v1_5 SHA-256 for RSA ≥ 2048: what the SVIDs' relying parties are sure to verify.
 * Throws for anything else. Shared by every custody, so a token key is held to the same rule.
 */
export function caSigningAlgorithmOf(publicKey: KeyObject): CaSigningAlgorithm {
  if (publicKey.asymmetricKeyType === "ec") {
    const curve = publicKey.asymmetricKeyDetails?.namedCurve;
    if (curve === "prime256v1") return { name: "ECDSA", hash: "SHA-256" };
    if (curve === "secp384r1") return { name: "ECDSA", hash: "SHA-384" };
    throw new Error(`CA key: EC curve ${curve ?? "unknown"} is not supported (P-256 or P-384)`);
  }
  if (publicKey.asymmetricKeyType === "rsa") {
    if ((publicKey.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new Error("CA key: RSA keys must have at least 2048 bits");
    return { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  }
  throw new Error(`CA key: ${publicKey.asymmetricKeyType ?? "unknown"} keys are not supported (EC P-256/P-384 or RSA)`);
}

/** node:crypto's digest name for a CA signing algorithm. */
export function digestOf(algorithm: CaSigningAlgorithm): "sha256" | "sha384" {
  return algorithm.hash === "SHA-384" ? "sha384" : "sha256";
}

/**
 * A CA key held in this process, from a PEM private key (PKCS#8, SEC1 or PKCS#1). The private
 * KeyObject lives only in this closure: nothing outside can read or export it.
 */
export function fileCaKey(pem: string): CaKey {
  return caKeyOf(createPrivateKey(pem));
}

/** A CA key held in this process, from a private KeyObject (a key just generated, for a new root). */
export function caKeyOf(privateKey: KeyObject): CaKey {
  if (privateKey.type !== "private") throw new Error("CA key: a private key is needed");
  const publicKey = createPublicKey(privateKey);
  const signingAlgorithm = caSigningAlgorithmOf(publicKey);
  const digest = digestOf(signingAlgorithm);
  const onPool = publicKey.asymmetricKeyType === "rsa";
  return Object.freeze({
    publicKey,
    signingAlgorithm,
    custody: "file" as const,
    // node:crypto writes ECDSA signatures as DER ECDSA-Sig-Value by default: X.509's own form.
    sign: onPool ? (tbs: Uint8Array) => signOnPool(digest, tbs, privateKey) : (tbs: Uint8Array) => Promise.resolve(sign(digest, tbs, privateKey)),
  });
}

/** True when `key`'s public half is `certificateKey` (compared as SubjectPublicKeyInfo bytes). */
export function sameCaPublicKey(key: CaKey, certificateKey: KeyObject): boolean {
  return key.publicKey.export({ format: "der", type: "spki" }).equals(certificateKey.export({ format: "der", type: "spki" }));
}
