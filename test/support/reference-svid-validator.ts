/**
 * The reference for test/credentials/x509/validate-svid-differential.test.ts: the SVID self-check
 * as the broker ran it until issue 14 (fd7c071, src/credentials/x509/validate-svid.ts), verbatim
 * but for names: OpenSSL (node:crypto X509Certificate) reads the certificate, checks the issuer,
 * the signature, the SANs, the key, the serial and the expiry; keyUsage and basicConstraints are
 * decoded from the DER. The broker's validator may refuse more than this one, never less.
 */
import { X509Certificate, type KeyObject } from "node:crypto";
import { childrenOf, contentsOf, readElement, tbsFieldsOf, type DerElement } from "../../src/credentials/x509/der-reader.js";

const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
/** Contents of the extension OIDs read here: keyUsage 2.5.29.15, basicConstraints 2.5.29.19. */
const KEY_USAGE_OID = Buffer.from([0x55, 0x1d, 0x0f]);
const BASIC_CONSTRAINTS_OID = Buffer.from([0x55, 0x1d, 0x13]);
/** RFC 5280 §4.2.1.3 bit numbers. */
const KEY_USAGE_BIT = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 } as const;

/** What the SVID must be, from the grant and the template; never from the signed object. */
export interface ReferenceExpectation {
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
 * located and decoded by the strict DER reader (@peculiar/x509's object model cost ~60 µs each
 * for two small extensions). Throws on any mismatch.
 */
export function referenceValidateSvid(der: Buffer, issuer: X509Certificate, expected: ReferenceExpectation): void {
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
    if (!usage.bits.has(KEY_USAGE_BIT.digitalSignature)) problems.push("keyUsage lacks digitalSignature");
    if (usage.bits.has(KEY_USAGE_BIT.keyCertSign) || usage.bits.has(KEY_USAGE_BIT.cRLSign)) problems.push("keyUsage allows certificate or CRL signing");
  }
  if (constraints === undefined || !constraints.critical || constraints.ca) problems.push("basicConstraints missing, not critical or CA");
  if (problems.length > 0) throw new Error(`signed SVID failed validation: ${problems.join("; ")}`);
}

/** A decoded Extension (RFC 5280 §4.1): critical, and the one DER element its extnValue holds. */
interface ReadExtension {
  readonly critical: boolean;
  readonly value: DerElement;
}

/**
 * keyUsage and basicConstraints, decoded from their DER by the strict reader (not by the writer's
 * code); a repeated one is a problem (RFC 5280 §4.2).
 */
function usageExtensionsOf(der: Buffer, problems: string[]): { usage?: { critical: boolean; bits: ReadonlySet<number> }; constraints?: { critical: boolean; ca: boolean } } {
  const found: { usage: ReadExtension[]; constraints: ReadExtension[] } = { usage: [], constraints: [] };
  try {
    for (const element of tbsFieldsOf(der).extensions) {
      const [type] = childrenOf(der, element);
      if (type?.tag !== 0x06) continue;
      const id = contentsOf(der, type);
      if (id.equals(KEY_USAGE_OID)) found.usage.push(readExtension(der, element));
      else if (id.equals(BASIC_CONSTRAINTS_OID)) found.constraints.push(readExtension(der, element));
    }
    if (found.usage.length > 1 || found.constraints.length > 1) problems.push("keyUsage or basicConstraints appears more than once");
    const [usage] = found.usage;
    const [constraints] = found.constraints;
    return {
      ...(usage === undefined ? {} : { usage: { critical: usage.critical, bits: namedBitsOf(der, usage.value) } }),
      ...(constraints === undefined ? {} : { constraints: { critical: constraints.critical, ca: isCa(der, constraints.value) } }),
    };
  } catch (error) {
    problems.push(`extensions unreadable: ${error instanceof Error ? error.message : String(error)}`);
    return {};
  }
}

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }; DER omits a FALSE critical (X.690 §11.5). */
function readExtension(der: Buffer, extension: DerElement): ReadExtension {
  const fields = childrenOf(der, extension);
  const flag = fields.length === 3 ? fields[1] : undefined;
  const value = fields[fields.length - 1];
  if (fields.length < 2 || fields.length > 3 || value?.tag !== 0x04) throw new Error("DER: malformed Extension");
  if (flag !== undefined && (flag.tag !== 0x01 || flag.end - flag.contentStart !== 1 || der[flag.contentStart] !== 0xff)) throw new Error("DER: critical is not a DER TRUE");
  const inner = readElement(der, value.contentStart);
  if (inner.end !== value.end) throw new Error("DER: bytes after an extension's value");
  return { critical: flag !== undefined, value: inner };
}

/** The bits set in a named-bit-list BIT STRING (X.690 §8.6; bit 0 is the top bit of the first byte). */
function namedBitsOf(der: Buffer, bitString: DerElement): ReadonlySet<number> {
  const contents = contentsOf(der, bitString);
  const unused = contents[0];
  if (bitString.tag !== 0x03 || unused === undefined || unused > 7 || (contents.length === 1 && unused !== 0)) throw new Error("DER: malformed BIT STRING");
  const bits = new Set<number>();
  const total = (contents.length - 1) * 8 - unused;
  for (let bit = 0; bit < total; bit++) if (((contents[1 + (bit >> 3)] ?? 0) & (0x80 >> (bit & 7))) !== 0) bits.add(bit);
  return bits;
}

/** BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL } (RFC 5280 §4.2.1.9). */
function isCa(der: Buffer, constraints: DerElement): boolean {
  if (constraints.tag !== 0x30) throw new Error("DER: basicConstraints is not a SEQUENCE");
  const [first] = childrenOf(der, constraints);
  if (first?.tag !== 0x01) return false;
  if (first.end - first.contentStart !== 1 || der[first.contentStart] !== 0xff) throw new Error("DER: cA is not a DER TRUE");
  return true;
}
