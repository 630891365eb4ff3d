import { X509Certificate } from "node:crypto";
import type { CertificateAuthority } from "./ca-store.js";
import { x509 } from "./x509.js";

const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

/** What the SVID must be, from the grant and the template; never from the signed object. */
export interface SvidExpectation {
  readonly spiffeId: string;
  readonly dnsNames: readonly string[];
  /** SubjectPublicKeyInfo DER of the CSR's key. */
  readonly spki: Buffer;
  readonly serial: string;
  readonly notAfter: Date;
}

/**
 * Re-reads a freshly signed SVID from its DER bytes with node:crypto (a parser other than the one
 * that built it) and checks it against the expectation and X509-SVID §4-5: issued and signed by
 * the CA, not a CA, exactly one URI SAN (the SPIFFE ID) and only the granted DNS names, the CSR's
 * key, the serial and expiry planned, key usage and EKU as the spec wants. Throws on any mismatch.
 */
export function validateSvid(der: ArrayBuffer, ca: CertificateAuthority, expected: SvidExpectation): void {
  const problems: string[] = [];
  const leaf = new X509Certificate(Buffer.from(der));
  const issuer = new X509Certificate(Buffer.from(ca.certificate.rawData));
  if (!leaf.checkIssued(issuer)) problems.push("not issued by the CA");
  if (!leaf.verify(issuer.publicKey)) problems.push("signature does not verify with the CA key");
  if (leaf.ca) problems.push("is a CA");
  const sans = (leaf.subjectAltName ?? "").split(", ").filter((entry) => entry !== "");
  const wanted = [`URI:${expected.spiffeId}`, ...expected.dnsNames.map((name) => `DNS:${name}`)];
  if (sans.length !== wanted.length || !wanted.every((entry) => sans.includes(entry))) problems.push(`SANs ${sans.join(", ")} are not ${wanted.join(", ")}`);
  if (sans.filter((entry) => entry.startsWith("URI:")).length !== 1) problems.push("does not have exactly one URI SAN");
  if (!leaf.publicKey.export({ format: "der", type: "spki" }).equals(expected.spki)) problems.push("public key is not the CSR's");
  if (leaf.serialNumber.toLowerCase() !== expected.serial.toLowerCase()) problems.push("serial differs");
  if (new Date(leaf.validTo).getTime() !== expected.notAfter.getTime()) problems.push("notAfter differs");
  const eku = leaf.keyUsage ?? [];
  if (!eku.includes(SERVER_AUTH) || !eku.includes(CLIENT_AUTH)) problems.push("EKU lacks serverAuth or clientAuth");

  // Key usage bits and criticality: from a fresh parse of the bytes.
  const parsed = new x509.X509Certificate(der);
  const usage = parsed.getExtension(x509.KeyUsagesExtension);
  if (usage === null || !usage.critical) problems.push("keyUsage missing or not critical");
  else {
    if ((usage.usages & x509.KeyUsageFlags.digitalSignature) === 0) problems.push("keyUsage lacks digitalSignature");
    if ((usage.usages & (x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign)) !== 0) problems.push("keyUsage allows certificate or CRL signing");
  }
  const constraints = parsed.getExtension(x509.BasicConstraintsExtension);
  if (constraints === null || !constraints.critical || constraints.ca) problems.push("basicConstraints missing, not critical or CA");
  if (problems.length > 0) throw new Error(`signed SVID failed validation: ${problems.join("; ")}`);
}
