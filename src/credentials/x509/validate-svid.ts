import { X509Certificate, type KeyObject } from "node:crypto";
import { bytesOf, childrenOf, contentsOf, tbsFieldsOf, type DerElement } from "./der-reader.js";
import { x509 } from "./x509.js";

const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
/** Contents of the extension OIDs read here: keyUsage 2.5.29.15, basicConstraints 2.5.29.19. */
const KEY_USAGE_OID = Buffer.from([0x55, 0x1d, 0x0f]);
const BASIC_CONSTRAINTS_OID = Buffer.from([0x55, 0x1d, 0x13]);

/** What the SVID must be, from the grant and the template; never from the signed object. */
export interface SvidExpectation {
  readonly spiffeId: string;
  readonly dnsNames: readonly string[];
  /** The CSR's public key. */
  readonly publicKey: KeyObject;
  readonly serial: string;
  readonly notAfter: Date;
}

/**
 * Re-reads a freshly signed SVID from its DER bytes with parsers other than the code that wrote
 * it and checks it against the expectation and X509-SVID §4-5. node:crypto (OpenSSL): issued and
 * signed by the CA, not a CA, exactly one URI SAN (the SPIFFE ID) and only the granted DNS names,
 * the CSR's key, the serial and expiry planned, EKU serverAuth + clientAuth. node:crypto does not
 * expose key usage bits or criticality, so the keyUsage and basicConstraints extensions are
 * located in the DER and decoded by @peculiar/x509. Throws on any mismatch.
 */
export function validateSvid(der: Buffer, issuer: X509Certificate, expected: SvidExpectation): void {
  const problems: string[] = [];
  const leaf = new X509Certificate(der);
  if (!leaf.checkIssued(issuer)) problems.push("not issued by the CA");
  if (!leaf.verify(issuer.publicKey)) problems.push("signature does not verify with the CA key");
  if (leaf.ca) problems.push("is a CA");
  const sans = (leaf.subjectAltName ?? "").split(", ").filter((entry) => entry !== "");
  const wanted = [`URI:${expected.spiffeId}`, ...expected.dnsNames.map((name) => `DNS:${name}`)];
  if (sans.length !== wanted.length || !wanted.every((entry) => sans.includes(entry))) problems.push(`SANs ${sans.join(", ")} are not ${wanted.join(", ")}`);
  if (sans.filter((entry) => entry.startsWith("URI:")).length !== 1) problems.push("does not have exactly one URI SAN");
  // KeyObject.equals compares the key material (OpenSSL EVP_PKEY_eq), without re-encoding either key.
  if (!leaf.publicKey.equals(expected.publicKey)) problems.push("public key is not the CSR's");
  if (leaf.serialNumber.toLowerCase() !== expected.serial.toLowerCase()) problems.push("serial differs");
  if (new Date(leaf.validTo).getTime() !== expected.notAfter.getTime()) problems.push("notAfter differs");
  const eku = leaf.keyUsage ?? [];
  if (!eku.includes(SERVER_AUTH) || !eku.includes(CLIENT_AUTH)) problems.push("EKU lacks serverAuth or clientAuth");

  const { usage, constraints } = usageExtensionsOf(der, problems);
  if (usage === undefined || !usage.critical) problems.push("keyUsage missing or not critical");
  else {
    if ((usage.usages & x509.KeyUsageFlags.digitalSignature) === 0) problems.push("keyUsage lacks digitalSignature");
    if ((usage.usages & (x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign)) !== 0) problems.push("keyUsage allows certificate or CRL signing");
  }
  if (constraints === undefined || !constraints.critical || constraints.ca) problems.push("basicConstraints missing, not critical or CA");
  if (problems.length > 0) throw new Error(`signed SVID failed validation: ${problems.join("; ")}`);
}

/** keyUsage and basicConstraints, each decoded by @peculiar/x509 from its Extension bytes; a repeated one is a problem (RFC 5280 §4.2). */
function usageExtensionsOf(der: Buffer, problems: string[]): { usage?: x509.KeyUsagesExtension; constraints?: x509.BasicConstraintsExtension } {
  const found: { usage: DerElement[]; constraints: DerElement[] } = { usage: [], constraints: [] };
  try {
    for (const extension of tbsFieldsOf(der).extensions) {
      const [type] = childrenOf(der, extension);
      if (type?.tag !== 0x06) continue;
      const id = contentsOf(der, type);
      if (id.equals(KEY_USAGE_OID)) found.usage.push(extension);
      else if (id.equals(BASIC_CONSTRAINTS_OID)) found.constraints.push(extension);
    }
  } catch (error) {
    problems.push(`extensions unreadable: ${error instanceof Error ? error.message : String(error)}`);
    return {};
  }
  if (found.usage.length > 1 || found.constraints.length > 1) problems.push("keyUsage or basicConstraints appears more than once");
  const [usage] = found.usage;
  const [constraints] = found.constraints;
  return {
    ...(usage === undefined ? {} : { usage: new x509.KeyUsagesExtension(bytesOf(der, usage)) }),
    ...(constraints === undefined ? {} : { constraints: new x509.BasicConstraintsExtension(bytesOf(der, constraints)) }),
  };
}
