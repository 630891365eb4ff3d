import type { CsrAsks, CsrReading } from "./csr-reading.js";
import { bytesOf, childrenOf, contentsOf, readElement, readWhole, type DerElement } from "./der-reader.js";
import { merged } from "../../lib/merged.js";
import { isCanonicalSpki } from "./spki.js";

/**
 * Reads a CSR (RFC 2986 §4) with the strict DER walker, in the shape nearly every client writes:
 * version 0, a subject of non-empty ASCII strings, a SubjectPublicKeyInfo in canonical form, no
 * attribute but one extensionRequest (PKCS#9, RFC 2985 §5.4.2) whose extensions are subjectAltName
 * (dNSName and URI only), basicConstraints, keyUsage and extKeyUsage, signed with ECDSA or RSA
 * PKCS#1 v1.5 and SHA-2. It reads exactly what @peculiar/x509 reads for such a CSR, in tens of
 * microseconds instead of hundreds (test/credentials/x509/csr-differential.test.ts holds the two
 * side by side). Anything outside that shape, it does not judge: it answers undefined and the
 * caller reads the CSR with @peculiar/x509, so no CSR is refused or accepted here that
 * @peculiar/x509's reading would treat otherwise.
 */
export function readCanonicalCsr(der: Buffer, spki: Buffer): CsrReading | undefined {
  try {
    return read(der, spki);
  } catch {
    return undefined;
  }
}

/** Thrown (and caught above) where the CSR leaves the shape read here. */
class OutOfShape extends Error {}

function need(condition: boolean): asserts condition {
  if (!condition) throw new OutOfShape();
}

/** AlgorithmIdentifier DER → scheme: ECDSA without parameters (RFC 5758 §3.2), PKCS#1 v1.5 with NULL (RFC 4055 §5). */
const SCHEMES: ReadonlyMap<string, CsrReading["algorithm"]> = new Map([
  ["300a06082a8648ce3d040302", { name: "ECDSA", hash: "SHA-256" }],
  ["300a06082a8648ce3d040303", { name: "ECDSA", hash: "SHA-384" }],
  ["300a06082a8648ce3d040304", { name: "ECDSA", hash: "SHA-512" }],
  ["300d06092a864886f70d01010b0500", { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }],
  ["300d06092a864886f70d01010c0500", { name: "RSASSA-PKCS1-v1_5", hash: "SHA-384" }],
  ["300d06092a864886f70d01010d0500", { name: "RSASSA-PKCS1-v1_5", hash: "SHA-512" }],
]);
/** OBJECT IDENTIFIER contents: extensionRequest 1.2.840.113549.1.9.14, commonName 2.5.4.3, and the extensions read. */
const OID = {
  extensionRequest: "2a864886f70d01090e",
  commonName: "550403",
  subjectAltName: "551d11",
  basicConstraints: "551d13",
  keyUsage: "551d0f",
  extKeyUsage: "551d25",
} as const;
const TAG = { boolean: 0x01, integer: 0x02, bitString: 0x03, octetString: 0x04, oid: 0x06, utf8String: 0x0c, printableString: 0x13, ia5String: 0x16, sequence: 0x30, set: 0x31, attributes: 0xa0 } as const;
/** GeneralName ::= CHOICE { …, dNSName [2] IA5String, …, uniformResourceIdentifier [6] IA5String, … } (RFC 5280 §4.2.1.6). */
const GENERAL_NAME = { dns: 0x82, uri: 0x86 } as const;
/** RFC 5280 §4.2.1.3 bit numbers. */
const KEY_USAGE_BIT = { keyCertSign: 5, cRLSign: 6 } as const;

function read(der: Buffer, spki: Buffer): CsrReading {
  // CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature }
  const [info, algorithmId, signature, ...extra] = childrenOf(der, readWhole(der));
  need(info !== undefined && algorithmId !== undefined && signature?.tag === TAG.bitString && extra.length === 0);
  // CertificationRequestInfo ::= SEQUENCE { version INTEGER { v1(0) }, subject, subjectPKInfo, attributes [0] }
  const [version, subject, key, attributes, ...more] = childrenOf(der, info);
  need(version !== undefined && bytesOf(der, version).equals(Buffer.from([TAG.integer, 1, 0])));
  need(key !== undefined && bytesOf(der, key).equals(spki) && isCanonicalSpki(spki));
  need(subject?.tag === TAG.sequence && attributes?.tag === TAG.attributes && more.length === 0);
  const algorithm = SCHEMES.get(bytesOf(der, algorithmId).toString("hex"));
  need(algorithm !== undefined);
  const bits = contentsOf(der, signature);
  need(bits.length > 1 && bits[0] === 0);
  // merged, not a spread of two: one hidden class per shape, not one per call (lib/merged.ts).
  const asks: CsrAsks = merged(namesIn(der, subject), requestedIn(der, extensionsIn(der, attributes)));
  return { algorithm, signature: bits.subarray(1), asks: () => asks };
}

/** Name ::= SEQUENCE OF RelativeDistinguishedName (SET OF AttributeTypeAndValue), RFC 5280 §4.1.2.4. */
function namesIn(der: Buffer, name: DerElement): Pick<CsrAsks, "commonNames" | "spiffeIdInSubject"> {
  const commonNames: string[] = [];
  let spiffeIdInSubject = false;
  for (const rdn of childrenOf(der, name)) {
    need(rdn.tag === TAG.set);
    const pairs = childrenOf(der, rdn);
    need(pairs.length > 0);
    for (const pair of pairs) {
      need(pair.tag === TAG.sequence);
      const [type, value, ...rest] = childrenOf(der, pair);
      need(type?.tag === TAG.oid && isMinimalOid(contentsOf(der, type)) && value !== undefined && rest.length === 0);
      need(value.tag === TAG.utf8String || value.tag === TAG.printableString || value.tag === TAG.ia5String);
      const text = asciiOf(der, value);
      if (contentsOf(der, type).toString("hex") === OID.commonName) commonNames.push(text);
      spiffeIdInSubject ||= /spiffe:/i.test(text);
    }
  }
  return { commonNames, spiffeIdInSubject };
}

/** A string of printable ASCII only, not empty: the strings every decoder reads alike. */
function asciiOf(der: Buffer, element: DerElement): string {
  const bytes = contentsOf(der, element);
  need(bytes.length > 0);
  for (const byte of bytes) need(byte >= 0x20 && byte < 0x7f);
  return bytes.toString("latin1");
}

/** The Extension elements of the one extensionRequest attribute (none without it). */
function extensionsIn(der: Buffer, attributes: DerElement): DerElement[] {
  const list = childrenOf(der, attributes);
  if (list.length === 0) return [];
  const [attribute] = list;
  need(list.length === 1 && attribute?.tag === TAG.sequence);
  // Attribute ::= SEQUENCE { type, values SET OF }; the values: exactly one Extensions SEQUENCE.
  const [type, values, ...rest] = childrenOf(der, attribute);
  need(type?.tag === TAG.oid && contentsOf(der, type).toString("hex") === OID.extensionRequest && values?.tag === TAG.set && rest.length === 0);
  const [extensions, ...others] = childrenOf(der, values);
  need(extensions?.tag === TAG.sequence && others.length === 0);
  const items = childrenOf(der, extensions);
  need(items.length > 0);
  return items;
}

/** What the extensions ask for; any extension other than the four read here leaves the shape. */
function requestedIn(der: Buffer, extensions: readonly DerElement[]): Omit<CsrAsks, "commonNames" | "spiffeIdInSubject"> {
  const asks = { uris: [] as string[], dnsNames: [] as string[], otherNames: [] as string[], ca: false, certificateSigning: false };
  for (const extension of extensions) {
    const { id, value } = extensionOf(der, extension);
    if (id === OID.subjectAltName) readNames(der, value, asks);
    else if (id === OID.basicConstraints) asks.ca ||= readCa(der, value);
    else if (id === OID.keyUsage) asks.certificateSigning ||= readSigningUsage(der, value);
    else need(id === OID.extKeyUsage && isOidList(der, value));
  }
  return asks;
}

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }: a FALSE critical is absent in DER. */
function extensionOf(der: Buffer, extension: DerElement): { id: string; value: DerElement } {
  need(extension.tag === TAG.sequence);
  const fields = childrenOf(der, extension);
  const [type, flag] = fields;
  const octets = fields[fields.length - 1];
  need(type?.tag === TAG.oid && octets?.tag === TAG.octetString && (fields.length === 2 || (fields.length === 3 && flag !== undefined && isTrue(der, flag))));
  const value = readElement(der, octets.contentStart);
  need(value.end === octets.end);
  return { id: contentsOf(der, type).toString("hex"), value };
}

const isTrue = (der: Buffer, element: DerElement): boolean => bytesOf(der, element).equals(Buffer.from([TAG.boolean, 1, 0xff]));

/** GeneralNames: URIs and DNS names only (any other kind is refused, and @peculiar/x509 names it). */
function readNames(der: Buffer, names: DerElement, asks: { uris: string[]; dnsNames: string[] }): void {
  need(names.tag === TAG.sequence);
  const items = childrenOf(der, names);
  need(items.length > 0);
  for (const item of items) {
    need(item.tag === GENERAL_NAME.uri || item.tag === GENERAL_NAME.dns);
    (item.tag === GENERAL_NAME.uri ? asks.uris : asks.dnsNames).push(asciiOf(der, item));
  }
}

/** BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER (0..MAX) OPTIONAL }, RFC 5280 §4.2.1.9. */
function readCa(der: Buffer, constraints: DerElement): boolean {
  need(constraints.tag === TAG.sequence);
  const fields = childrenOf(der, constraints);
  const ca = fields[0] !== undefined && fields[0].tag === TAG.boolean;
  need(!ca || isTrue(der, fields[0] as DerElement));
  const rest = ca ? fields.slice(1) : fields;
  need(rest.length === 0 || (rest.length === 1 && rest[0] !== undefined && rest[0].tag === TAG.integer && rest[0].end - rest[0].contentStart === 1 && (der[rest[0].contentStart] ?? 0x80) < 0x80));
  return ca;
}

/** KeyUsage BIT STRING (at most 16 named bits, RFC 5280 §4.2.1.3): keyCertSign or cRLSign among the used bits. */
function readSigningUsage(der: Buffer, usage: DerElement): boolean {
  const contents = contentsOf(der, usage);
  const unused = contents[0];
  need(usage.tag === TAG.bitString && unused !== undefined && contents.length <= 3 && unused <= 7 && (contents.length > 1 || unused === 0));
  const used = (contents.length - 1) * 8 - unused;
  const set = (bit: number) => bit < used && ((contents[1 + (bit >> 3)] ?? 0) & (0x80 >> (bit & 7))) !== 0;
  return set(KEY_USAGE_BIT.keyCertSign) || set(KEY_USAGE_BIT.cRLSign);
}

/** ExtKeyUsageSyntax ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId (OIDs in their shortest form). */
function isOidList(der: Buffer, list: DerElement): boolean {
  if (list.tag !== TAG.sequence) return false;
  const items = childrenOf(der, list);
  return items.length > 0 && items.every((item) => item.tag === TAG.oid && isMinimalOid(contentsOf(der, item)));
}

/** X.690 §8.19.2: no sub-identifier starts with 0x80, the last byte ends one. */
function isMinimalOid(bytes: Buffer): boolean {
  if (bytes.length === 0 || ((bytes[bytes.length - 1] ?? 0) & 0x80) !== 0) return false;
  return bytes.every((byte, index) => byte !== 0x80 || (index > 0 && ((bytes[index - 1] ?? 0) & 0x80) !== 0));
}
