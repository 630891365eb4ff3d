import { caKeySigning } from "./ca-key-webcrypto.js";
import type { CertificateAuthority } from "./ca-store.js";
import { x509 } from "./x509.js";

/** RFC 5280 §5.2.3 cRLNumber. */
const CRL_NUMBER_OID = "2.5.29.20";

/** One revoked certificate on the CRL. */
export interface CrlEntry {
  /** Lowercase hex serial. */
  readonly serial: string;
  /** Epoch seconds. */
  readonly revokedAt: number;
}

/**
 * Signs a CRL (RFC 5280 §5) with the CA's key: issuer = the CA's subject, thisUpdate = now,
 * nextUpdate = now + `nextUpdateSeconds`, the authority key identifier and a cRLNumber that grows
 * with time (milliseconds since the epoch), one entry per revoked serial.
 */
export async function signCrl(ca: CertificateAuthority, entries: readonly CrlEntry[], nowMs: number, nextUpdateSeconds: number): Promise<x509.X509Crl> {
  const ski = ca.certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  const aki = ski !== null ? new x509.AuthorityKeyIdentifierExtension(ski.keyId, false) : await x509.AuthorityKeyIdentifierExtension.create(ca.certificate.publicKey, false);
  const thisUpdate = new Date(Math.floor(nowMs / 1000) * 1000);
  // Signed through the CaKey port: the provider hands the TBSCertList to `ca.key.sign`.
  const signing = caKeySigning(ca.key);
  return x509.X509CrlGenerator.create({
    issuer: ca.certificate.subjectName,
    thisUpdate,
    nextUpdate: new Date(thisUpdate.getTime() + nextUpdateSeconds * 1000),
    signingKey: signing.signingKey,
    signingAlgorithm: signing.signingAlgorithm,
    extensions: [aki, new x509.Extension(CRL_NUMBER_OID, false, derInteger(BigInt(nowMs)))],
    entries: [...entries]
      .sort((a, b) => (a.serial < b.serial ? -1 : a.serial > b.serial ? 1 : 0))
      .map((entry) => ({ serialNumber: entry.serial, revocationDate: new Date(entry.revokedAt * 1000) })),
  }, signing.crypto);
}

/** DER INTEGER of a non-negative number. */
function derInteger(value: bigint): Buffer {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  let content = Buffer.from(hex, "hex");
  if (((content[0] ?? 0) & 0x80) !== 0) content = Buffer.concat([Buffer.from([0]), content]);
  return Buffer.concat([Buffer.from([0x02, content.length]), content]);
}
