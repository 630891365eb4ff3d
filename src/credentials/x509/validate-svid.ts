import { verify, type KeyObject } from "node:crypto";
import { childrenOf, readElement, readWhole, type DerElement } from "./der-reader.js";

/** What the SVID must be, from the grant and the template; never from the signed object. */
export interface SvidExpectation {
  readonly spiffeId: string;
  readonly dnsNames: readonly string[];
  /** The CSR's SubjectPublicKeyInfo DER, as received: the certificate must carry these bytes. */
  readonly spki: Buffer;
  /** Hex, as the template has it. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The subject's RDNs as the template has them (X509-SVID §2: informative, but exactly as planned). */
  readonly subject: readonly Readonly<Record<string, readonly string[]>>[];
}

/** What every SVID of one CA must say about its issuer, worked out once per CA set (svid-signing-profile.ts). */
export interface SvidIssuerCheck {
  /** The CA certificate's subject Name DER. */
  readonly issuerName: Buffer;
  /** The CA's key identifier: the SVID's authorityKeyIdentifier keyIdentifier. */
  readonly authorityKeyId: Buffer;
  /** AlgorithmIdentifier DER of the CA's signatures. */
  readonly signatureAlgorithm: Buffer;
  /** The CA certificate's public key, imported once. */
  readonly caPublicKey: KeyObject;
}

/** Digest of each signature algorithm an SVID may carry, by its AlgorithmIdentifier DER (RFC 5758 §3.2, RFC 4055 §5). */
const DIGESTS: ReadonlyMap<string, string> = new Map([
  ["300a06082a8648ce3d040302", "sha256"],
  ["300a06082a8648ce3d040303", "sha384"],
  ["300d06092a864886f70d01010b0500", "sha256"],
]);
/** [0] EXPLICIT INTEGER 2: X.509 v3, the only version an SVID has. */
const VERSION_3 = Buffer.from("a003020102", "hex");
/** Extension OIDs (contents, hex) → name; any other extension is a problem. */
const EXTENSIONS: ReadonlyMap<string, ExtensionName> = new Map([
  ["551d13", "basicConstraints"],
  ["551d0f", "keyUsage"],
  ["551d25", "extKeyUsage"],
  ["551d11", "subjectAltName"],
  ["551d0e", "subjectKeyIdentifier"],
  ["551d23", "authorityKeyIdentifier"],
]);
type ExtensionName = "basicConstraints" | "keyUsage" | "extKeyUsage" | "subjectAltName" | "subjectKeyIdentifier" | "authorityKeyIdentifier";
/** RFC 5280 §4.2: basicConstraints and keyUsage critical, the rest not; and the problem when one is not as it should be. */
const CRITICALITY: Readonly<Record<ExtensionName, { readonly critical: boolean; readonly problem: string }>> = {
  basicConstraints: { critical: true, problem: "basicConstraints missing, not critical or CA" },
  keyUsage: { critical: true, problem: "keyUsage missing or not critical" },
  extKeyUsage: { critical: false, problem: "extKeyUsage is critical" },
  subjectAltName: { critical: false, problem: "subjectAltName is critical" },
  subjectKeyIdentifier: { critical: false, problem: "subjectKeyIdentifier is critical" },
  authorityKeyIdentifier: { critical: false, problem: "authorityKeyIdentifier is critical" },
};
/** id-kp-serverAuth and id-kp-clientAuth, whole OBJECT IDENTIFIER encodings. */
const SERVER_AUTH = Buffer.from("06082b06010505070301", "hex");
const CLIENT_AUTH = Buffer.from("06082b06010505070302", "hex");
/** RFC 5280 §4.2.1.3 bits an SVID may have: digitalSignature (0), keyEncipherment (2, RSA keys); never keyCertSign (5) or cRLSign (6). */
const KEY_USAGE_BIT = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 } as const;
/** Subject attribute types by OBJECT IDENTIFIER contents (hex): the ones an SVID template names. */
const ATTRIBUTE_TYPES: ReadonlyMap<string, string> = new Map([
  ["55040a", "O"],
  ["550403", "CN"],
]);
/** PrintableString's alphabet (X.680 §41.4). */
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;
const UTF8 = new TextDecoder("utf-8", { fatal: true });
/** GeneralName tags (RFC 5280 §4.2.1.6): dNSName [2], uniformResourceIdentifier [6], both IA5String. */
const GENERAL_NAME = { dns: 0x82, uri: 0x86 } as const;

/**
 * Re-reads a freshly signed SVID from its DER bytes with the strict DER reader (der-reader.ts, not
 * the writer's code) and checks every field against what the grant, the template and the CA say
 * (X509-SVID §4-5, RFC 5280 §4.1): v3; the serial, notBefore and notAfter planned; the issuer name
 * and authority key identifier of the CA; the CSR's SubjectPublicKeyInfo, byte for byte; exactly
 * one URI SAN (the SPIFFE ID) and only the granted DNS names; basicConstraints critical and not a
 * CA; keyUsage critical, digitalSignature, never keyCertSign or cRLSign; EKU serverAuth and
 * clientAuth; no other, unknown or repeated extension; the same signature algorithm inside and
 * outside the TBSCertificate; and the CA's signature over the TBSCertificate verified with the
 * CA certificate's key (for an RSA CA, the guard against a faulty CRT signature that leaks the
 * key; for any CA, against a wrong key or corrupt output). The check public CAs run before
 * issuance, as a second reading. Throws on any mismatch, naming every problem found.
 */
export function validateSvid(der: Buffer, issuer: SvidIssuerCheck, expected: SvidExpectation): void {
  const problems: string[] = [];
  let certificate: ReturnType<typeof certificateFieldsOf>;
  try {
    certificate = certificateFieldsOf(der);
  } catch (error) {
    throw new Error(`signed SVID failed validation: not a well-formed certificate: ${messageOf(error)}`);
  }
  const { tbs, fields, outerAlgorithm, signature } = certificate;
  const [version, serial, innerAlgorithm, issuerName, validity, subject, spki, extensions] = fields;
  if (!slice(der, version).equals(VERSION_3)) problems.push("not an X.509 v3 certificate");
  if (!slice(der, issuerName).equals(issuer.issuerName)) problems.push("not issued by the CA (issuer name differs)");
  if (!slice(der, spki).equals(expected.spki)) problems.push("public key is not the CSR's");
  checkSerial(der, serial, expected.serial, problems);
  checkValidity(der, validity, expected, problems);
  try {
    if (subjectOf(der, subject) !== plannedSubject(expected.subject)) problems.push("subject is not the planned one");
  } catch (error) {
    problems.push(`subject unreadable: ${messageOf(error)}`);
  }
  const algorithm = slice(der, innerAlgorithm);
  if (!algorithm.equals(issuer.signatureAlgorithm) || !slice(der, outerAlgorithm).equals(algorithm)) problems.push("signature algorithm is not the CA's, or differs inside and outside the TBSCertificate");
  try {
    checkExtensions(der, extensions, issuer, expected, problems);
  } catch (error) {
    problems.push(`extensions unreadable: ${messageOf(error)}`);
  }
  if (!signatureVerifies(der, tbs, signature, issuer)) problems.push("signature does not verify with the CA key");
  if (problems.length > 0) throw new Error(`signed SVID failed validation: ${problems.join("; ")}`);
}

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING } (RFC 5280 §4.1), and the TBS's eight fields. */
function certificateFieldsOf(der: Buffer): { tbs: DerElement; fields: DerElement[]; outerAlgorithm: DerElement; signature: DerElement } {
  const outer = readWhole(der);
  const [tbs, outerAlgorithm, signature, ...extra] = outer.tag === 0x30 ? childrenOf(der, outer) : [];
  if (tbs?.tag !== 0x30 || outerAlgorithm?.tag !== 0x30 || signature?.tag !== 0x03 || extra.length > 0) throw new Error("not a Certificate SEQUENCE");
  // version [0], serial, signature, issuer, validity, subject, subjectPublicKeyInfo, extensions [3]: no unique IDs.
  const fields = childrenOf(der, tbs);
  const tags = [0xa0, 0x02, 0x30, 0x30, 0x30, 0x30, 0x30, 0xa3];
  if (fields.length !== tags.length || fields.some((field, index) => field.tag !== tags[index])) throw new Error("TBSCertificate fields are not those of a v3 certificate with extensions");
  return { tbs, fields, outerAlgorithm, signature };
}

/** A positive INTEGER in its shortest form (X.690 §8.3.2, RFC 5280 §4.1.2.2) of the planned value. */
function checkSerial(der: Buffer, serial: DerElement | undefined, planned: string, problems: string[]): void {
  const bytes = contents(der, serial);
  const first = bytes[0];
  if (first === undefined || (first & 0x80) !== 0 || (first === 0 && bytes.length > 1 && ((bytes[1] ?? 0) & 0x80) === 0)) problems.push("serial is not a positive INTEGER in DER");
  else if (bytes.toString("hex").replace(/^0+/, "") !== planned.toLowerCase().replace(/^0+/, "")) problems.push("serial differs");
}

/** Validity ::= SEQUENCE { notBefore, notAfter }, each the time planned, as RFC 5280 §4.1.2.5 writes it. */
function checkValidity(der: Buffer, validity: DerElement | undefined, expected: SvidExpectation, problems: string[]): void {
  const times = validity === undefined ? [] : childrenOf(der, validity);
  const [notBefore, notAfter] = times;
  if (times.length !== 2 || notBefore === undefined || notAfter === undefined) {
    problems.push("validity is not two times");
    return;
  }
  if (!slice(der, notBefore).equals(encodedTime(expected.notBefore))) problems.push("notBefore differs");
  if (!slice(der, notAfter).equals(encodedTime(expected.notAfter))) problems.push("notAfter differs");
}

/** RFC 5280 §4.1.2.5: UTCTime YYMMDDHHMMSSZ for 1950–2049, GeneralizedTime YYYYMMDDHHMMSSZ otherwise. */
function encodedTime(date: Date): Buffer {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ (years 0–9999)
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  const year = date.getUTCFullYear();
  const utc = year >= 1950 && year < 2050;
  const text = utc ? digits.slice(2) : digits;
  return Buffer.concat([Buffer.from([utc ? 0x17 : 0x18, text.length]), Buffer.from(text, "latin1")]);
}

/**
 * Name ::= SEQUENCE OF RelativeDistinguishedName (SET SIZE (1..MAX) OF AttributeTypeAndValue),
 * RFC 5280 §4.1.2.4, read strictly: known types, PrintableString in its alphabet or valid UTF-8;
 * as text, one RDN a line, its attributes sorted, as JSON (no value can pass for a separator).
 */
function subjectOf(der: Buffer, name: DerElement | undefined): string {
  if (name === undefined) throw new Error("no subject");
  return childrenOf(der, name)
    .map((rdn) => {
      const pairs = rdn.tag === 0x31 ? childrenOf(der, rdn) : [];
      if (pairs.length === 0) throw new Error("an RDN that is not a non-empty SET");
      return JSON.stringify(pairs.map((pair) => attributeOf(der, pair)).sort());
    })
    .join("\n");
}

function attributeOf(der: Buffer, pair: DerElement): string {
  const [type, value, ...rest] = pair.tag === 0x30 ? childrenOf(der, pair) : [];
  const name = type?.tag === 0x06 ? ATTRIBUTE_TYPES.get(contents(der, type).toString("hex")) : undefined;
  if (name === undefined || value === undefined || rest.length > 0) throw new Error("an attribute of an unknown type or shape");
  const bytes = contents(der, value);
  if (value.tag === 0x13 && PRINTABLE.test(bytes.toString("latin1"))) return `${name}=${bytes.toString("latin1")}`;
  if (value.tag === 0x0c) return `${name}=${UTF8.decode(bytes)}`;
  throw new Error("an attribute value that is not a PrintableString or UTF8String");
}

/** The template's subject in subjectOf's form. */
const plannedSubject = (rdns: SvidExpectation["subject"]): string =>
  rdns.map((rdn) => JSON.stringify(Object.entries(rdn).flatMap(([type, values]) => values.map((value) => `${type}=${value}`)).sort())).join("\n");

/** The extensions, each once, each known and as critical as RFC 5280 has it, each with its content checked. */
function checkExtensions(der: Buffer, wrapper: DerElement | undefined, issuer: SvidIssuerCheck, expected: SvidExpectation, problems: string[]): void {
  const [list, ...rest] = wrapper === undefined ? [] : childrenOf(der, wrapper);
  if (list?.tag !== 0x30 || rest.length > 0) throw new Error("extensions [3] does not hold one SEQUENCE");
  const found = new Map<ExtensionName, DerElement>();
  for (const element of childrenOf(der, list)) {
    const { id, critical, value } = readExtension(der, element);
    const name = EXTENSIONS.get(id);
    if (name === undefined) problems.push(`has an extension an SVID does not carry (${id})`);
    else if (found.has(name)) problems.push(`${name} appears more than once`);
    else {
      found.set(name, value);
      if (critical !== CRITICALITY[name].critical) problems.push(CRITICALITY[name].problem);
    }
  }
  checkConstraints(der, found.get("basicConstraints"), problems);
  checkKeyUsage(der, found.get("keyUsage"), problems);
  checkExtendedKeyUsage(der, found.get("extKeyUsage"), problems);
  checkNames(der, found.get("subjectAltName"), expected, problems);
  const ski = found.get("subjectKeyIdentifier");
  if (ski === undefined || ski.tag !== 0x04 || ski.end === ski.contentStart) problems.push("subjectKeyIdentifier missing or not an OCTET STRING");
  if (!authorityKeyIdOf(der, found.get("authorityKeyIdentifier")).equals(issuer.authorityKeyId)) problems.push("not issued by the CA (authorityKeyIdentifier differs)");
}

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }; DER omits a FALSE critical (X.690 §11.5). */
function readExtension(der: Buffer, extension: DerElement): { id: string; critical: boolean; value: DerElement } {
  const fields = extension.tag === 0x30 ? childrenOf(der, extension) : [];
  const [type, flag] = fields;
  const octets = fields[fields.length - 1];
  if (type?.tag !== 0x06 || octets?.tag !== 0x04 || fields.length < 2 || fields.length > 3) throw new Error("malformed Extension");
  if (fields.length === 3 && (flag?.tag !== 0x01 || flag.end - flag.contentStart !== 1 || der[flag.contentStart] !== 0xff)) throw new Error("critical is not a DER TRUE");
  const value = readElement(der, octets.contentStart);
  if (value.end !== octets.end) throw new Error("bytes after an extension's value");
  return { id: contents(der, type).toString("hex"), critical: fields.length === 3, value };
}

/** BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint OPTIONAL }: a leaf's is empty (RFC 5280 §4.2.1.9). */
function checkConstraints(der: Buffer, constraints: DerElement | undefined, problems: string[]): void {
  if (constraints === undefined) problems.push("basicConstraints missing, not critical or CA");
  else if (constraints.tag !== 0x30) throw new Error("basicConstraints is not a SEQUENCE");
  else if (constraints.end !== constraints.contentStart) {
    const [first] = childrenOf(der, constraints);
    problems.push("basicConstraints missing, not critical or CA");
    if (first?.tag === 0x01 && der[first.contentStart] !== 0) problems.push("is a CA");
  }
}

/** KeyUsage, a named-bit-list BIT STRING (X.690 §8.6, §11.2.2): digitalSignature, keyEncipherment at most. */
function checkKeyUsage(der: Buffer, usage: DerElement | undefined, problems: string[]): void {
  if (usage === undefined) {
    problems.push("keyUsage missing or not critical");
    return;
  }
  const bits = contents(der, usage);
  const unused = bits[0];
  const last = bits[bits.length - 1] ?? 0;
  // DER: 0–7 unused bits, zero, and the last byte's last used bit set (no trailing zero bits).
  if (usage.tag !== 0x03 || unused === undefined || unused > 7 || bits.length < 2 || (last & ((1 << unused) - 1)) !== 0 || (last & (1 << unused)) === 0) throw new Error("keyUsage is not a DER BIT STRING");
  const set = (bit: number): boolean => ((bits[1 + (bit >> 3)] ?? 0) & (0x80 >> (bit & 7))) !== 0;
  if (!set(KEY_USAGE_BIT.digitalSignature)) problems.push("keyUsage lacks digitalSignature");
  if (set(KEY_USAGE_BIT.keyCertSign) || set(KEY_USAGE_BIT.cRLSign)) problems.push("keyUsage allows certificate or CRL signing");
  for (let bit = 0; bit < (bits.length - 1) * 8; bit++) {
    if (set(bit) && bit !== KEY_USAGE_BIT.digitalSignature && bit !== KEY_USAGE_BIT.keyEncipherment && bit !== KEY_USAGE_BIT.keyCertSign && bit !== KEY_USAGE_BIT.cRLSign) problems.push(`keyUsage has bit ${bit}`);
  }
}

/** ExtKeyUsageSyntax ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId: serverAuth and clientAuth (X509-SVID §4.4). */
function checkExtendedKeyUsage(der: Buffer, usages: DerElement | undefined, problems: string[]): void {
  const purposes = usages?.tag === 0x30 ? childrenOf(der, usages).map((purpose) => slice(der, purpose)) : [];
  if (!purposes.some((purpose) => purpose.equals(SERVER_AUTH)) || !purposes.some((purpose) => purpose.equals(CLIENT_AUTH))) problems.push("EKU lacks serverAuth or clientAuth");
}

/** GeneralNames: exactly one URI, the SPIFFE ID, and the granted DNS names, each as often as granted; nothing else. */
function checkNames(der: Buffer, names: DerElement | undefined, expected: SvidExpectation, problems: string[]): void {
  const items = names?.tag === 0x30 ? childrenOf(der, names) : [];
  const uris = items.filter((item) => item.tag === GENERAL_NAME.uri).map((item) => contents(der, item).toString("latin1"));
  const dns = items.filter((item) => item.tag === GENERAL_NAME.dns).map((item) => contents(der, item).toString("latin1"));
  if (uris.length !== 1) problems.push("does not have exactly one URI SAN");
  const wanted = [...expected.dnsNames].sort();
  const sorted = dns.sort();
  if (uris[0] !== expected.spiffeId || uris.length + dns.length !== items.length || sorted.length !== wanted.length || sorted.some((name, index) => name !== wanted[index])) {
    problems.push(`SANs URI:${uris.join(", URI:")} DNS:${dns.join(", DNS:")} (${items.length} in all) are not URI:${expected.spiffeId} DNS:${wanted.join(", DNS:")}`);
  }
}

/** AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING } as an SVID carries it: the key identifier alone. */
function authorityKeyIdOf(der: Buffer, identifier: DerElement | undefined): Buffer {
  const [keyId, ...rest] = identifier?.tag === 0x30 ? childrenOf(der, identifier) : [];
  return keyId?.tag === 0x80 && rest.length === 0 ? contents(der, keyId) : Buffer.alloc(0);
}

/** The CA's signature over the TBSCertificate bytes as signed (X.509 signatureValue: a BIT STRING of whole bytes). */
function signatureVerifies(der: Buffer, tbs: DerElement, signature: DerElement, issuer: SvidIssuerCheck): boolean {
  const digest = DIGESTS.get(issuer.signatureAlgorithm.toString("hex"));
  const bits = contents(der, signature);
  if (digest === undefined || bits.length < 2 || bits[0] !== 0) return false;
  try {
    return verify(digest, slice(der, tbs), issuer.caPublicKey, bits.subarray(1));
  } catch {
    return false;
  }
}

const slice = (der: Buffer, element: DerElement | undefined): Buffer => (element === undefined ? Buffer.alloc(0) : der.subarray(element.start, element.end));
const contents = (der: Buffer, element: DerElement | undefined): Buffer => (element === undefined ? Buffer.alloc(0) : der.subarray(element.contentStart, element.end));
const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));
