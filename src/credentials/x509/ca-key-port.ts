import type { KeyObject } from "node:crypto";

/**
 * The CA's signing key as the X.509 code sees it (issue 17's shared design; ca-key.ts's CaKey is
 * the same shape): a public half to compare with the certificate, the signature parameters, and
 * `sign(tbs)`, so that a key in a file and a key in a PKCS#11 token sign SVIDs, CRLs and CSRs alike.
 */
export interface CaKey {
  /** The key's public half (node:crypto), compared with the CA certificate's key. */
  readonly publicKey: KeyObject;
  /** WebCrypto-style signature parameters, as today. */
  readonly signingAlgorithm: { readonly name: "ECDSA"; readonly hash: "SHA-256" | "SHA-384" } | { readonly name: "RSASSA-PKCS1-v1_5"; readonly hash: "SHA-256" };
  /** The X.509 signatureValue over `tbs` (DER ECDSA-Sig-Value for ECDSA, PKCS#1 v1.5 bytes for RSA). */
  sign(tbs: Uint8Array): Promise<Buffer>;
  /** Where the private half lives: "file" (this process) or "pkcs11" (a token; never here). */
  readonly custody: "file" | "pkcs11";
}
