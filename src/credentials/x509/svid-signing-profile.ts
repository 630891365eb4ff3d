import { createHash, X509Certificate, type KeyObject } from "node:crypto";
import type { CertificateAuthority } from "./ca-store.js";
import { bytesOf, subjectPublicKeyBits, tbsFieldsOf } from "./der-reader.js";
import { DER_NULL, oid, sequence } from "./der-writer.js";
import { x509 } from "./x509.js";

/**
 * What every SVID takes from its CA, worked out once when issuance is set up rather than per
 * request: the issuer name, the authority key identifier, the signature algorithm and the CA
 * key's `sign` (the CaKey port: a file key signs RSA on the thread pool and ECDSA in place), and
 * the CA certificate's public key that every SVID's signature is checked with.
 */
export interface SvidSigningProfile {
  /** The CA certificate's subject Name, byte for byte (RFC 5280 §4.1.2.4: the SVID's issuer). */
  readonly issuerName: Buffer;
  /** keyIdentifier of the SVIDs' authorityKeyIdentifier: the CA's own subject key identifier. */
  readonly authorityKeyId: Buffer;
  /** AlgorithmIdentifier DER, in the TBSCertificate and around the signature (RFC 5280 §4.1.1.2). */
  readonly signatureAlgorithm: Buffer;
  /** The CA key's signature over a TBSCertificate: the X.509 signatureValue. */
  readonly sign: (tbs: Uint8Array) => Promise<Buffer>;
  /** The CA certificate's public key, imported once: each SVID's signature is verified with it (validate-svid.ts). */
  readonly caPublicKey: KeyObject;
}

// RFC 5758 §3.2 (ECDSA: parameters absent) and RFC 4055 §5 (RSA: parameters NULL).
const ALGORITHMS = {
  "ECDSA/SHA-256": sequence(oid("1.2.840.10045.4.3.2")),
  "ECDSA/SHA-384": sequence(oid("1.2.840.10045.4.3.3")),
  "RSASSA-PKCS1-v1_5/SHA-256": sequence(oid("1.2.840.113549.1.1.11"), DER_NULL),
} as const;

/** The profile of `ca`. Throws for a signing algorithm the CA key loader would not have produced. */
export function svidSigningProfile(ca: CertificateAuthority): SvidSigningProfile {
  const { name, hash } = ca.key.signingAlgorithm as { name: string; hash?: string };
  const algorithm = ALGORITHMS[`${name}/${hash ?? ""}` as keyof typeof ALGORITHMS];
  if (algorithm === undefined) throw new Error(`CA signing algorithm ${name}/${hash ?? "?"} is not supported`);
  const der = new Uint8Array(ca.certificate.rawData);
  const ski = ca.certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  return Object.freeze({
    issuerName: Buffer.from(bytesOf(der, tbsFieldsOf(der).subject)),
    // RFC 5280 §4.2.1.1: the issuer's subject key identifier; without one, method (1) of §4.2.1.2 on its key.
    authorityKeyId: ski !== null ? Buffer.from(ski.keyId, "hex") : createHash("sha1").update(subjectPublicKeyBits(new Uint8Array(ca.certificate.publicKey.rawData))).digest(),
    signatureAlgorithm: algorithm,
    sign: ca.key.sign,
    // From the certificate, not from the CA key port: the check must not trust what signed.
    caPublicKey: new X509Certificate(Buffer.from(der)).publicKey,
  });
}
