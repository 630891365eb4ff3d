import { constants, createPublicKey, verify, type KeyObject } from "node:crypto";
import { readCanonicalCsr } from "./csr-der-reading.js";
import { readCsrWithPeculiar } from "./csr-peculiar-reading.js";
import { NOT_A_CSR, refuseCsr as refuse, type CsrAsks, type CsrReading } from "./csr-reading.js";
import { bytesOf, childrenOf, readWhole } from "./der-reader.js";
import { ecPointOf } from "./spki.js";

/** Largest CSR accepted, in characters of PEM, checked before any parsing (an RSA-4096 CSR is ~1.8 KB). */
export const MAX_CSR_CHARS = 8192;
/** RSA bounds for a CSR key, as for DPoP proof keys (dpop/proof-jwk.ts): a ceiling that keeps one verification cheap. */
const MIN_RSA_BITS = 2048;
const MAX_RSA_BITS = 4096;
/** The only RSA public exponent accepted: a huge exponent makes one signature check cost milliseconds. */
const RSA_EXPONENT = 65537n;
const PEM_SHAPE = /^-----BEGIN (NEW )?CERTIFICATE REQUEST-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n?-----END (NEW )?CERTIFICATE REQUEST-----\s*$/;
/** Signature hashes accepted on the CSR's proof of possession. */
const HASHES = new Set(["SHA-256", "SHA-384", "SHA-512"]);

/** What a verified CSR holds: the public key (all the broker uses) and what it asks for (checked against the grant). */
export interface CheckedCsr {
  readonly publicKey: KeyObject;
  /** SubjectPublicKeyInfo DER, as received (and as @peculiar/x509 reads it: they must agree). */
  readonly spki: Buffer;
  readonly keyType: "ec" | "rsa";
  readonly asks: CsrAsks;
}

/**
 * A CSR whose PEM, outer DER structure and key were checked, but nothing costly: cheap to get (no
 * ASN.1 library parse, no signature work), so it can be read before the subject token is verified.
 */
export interface ParsedCsr {
  readonly der: Buffer;
  readonly publicKey: KeyObject;
  /** SubjectPublicKeyInfo DER as received: what the signature covers and the certificate carries. */
  readonly spki: Buffer;
  readonly keyType: "ec" | "rsa";
  /** The certificationRequestInfo bytes as received: what the signature covers (RFC 2986 §4.2). */
  readonly signedPart: Buffer;
}

/**
 * Reads a PEM PKCS#10 CSR (RFC 2986) cheaply: size and PEM shape before parsing, the outer DER
 * structure with the strict TLV walker, then the key read from its SubjectPublicKeyInfo (EC
 * P-256/P-384, or RSA 2048–4096 bits with exponent 65537). Everything else is refused.
 */
export function parseCsr(pem: string): ParsedCsr {
  if (pem.length > MAX_CSR_CHARS) throw refuse(`is larger than ${MAX_CSR_CHARS} characters`);
  const shape = PEM_SHAPE.exec(pem.trim());
  if (shape === null || (shape[1] ?? "") !== (shape[3] ?? "")) throw refuse("must be one PEM CERTIFICATE REQUEST block");
  const base64 = (shape[2] ?? "").replace(/\r?\n/g, "");
  const der = Buffer.from(base64, "base64");
  if (der.length === 0 || der.toString("base64") !== base64) throw refuse("is not valid base64 inside its PEM block");

  let signedPart: Buffer;
  let spki: Buffer;
  try {
    // CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature }
    // CertificationRequestInfo ::= SEQUENCE { version, subject, subjectPKInfo, [0] attributes }
    const outer = readWhole(der);
    const [info, algorithm, signature, ...extra] = childrenOf(der, outer);
    if (outer.tag !== 0x30 || info?.tag !== 0x30 || algorithm?.tag !== 0x30 || signature?.tag !== 0x03 || extra.length > 0) throw new Error("not a CertificationRequest");
    const [version, subject, key] = childrenOf(der, info);
    if (version?.tag !== 0x02 || subject?.tag !== 0x30 || key?.tag !== 0x30) throw new Error("not a CertificationRequestInfo");
    signedPart = bytesOf(der, info);
    spki = bytesOf(der, key);
  } catch (error) {
    throw refuse(NOT_A_CSR, `DER parse failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  const { key, keyType } = checkKey(spki);
  return { der, publicKey: key, spki, keyType, signedPart };
}

/**
 * Reads the rest of a CSR, checks its signature scheme and verifies its self-signature (proof of
 * possession of the private key), and reads what it asks for. The signature work is bounded by
 * {@link parseCsr}'s key checks; run it only for an authenticated caller. The strict DER reader
 * reads the CSRs in the usual shape; @peculiar/x509 reads any other.
 */
export function verifyCsr(parsed: ParsedCsr): CheckedCsr {
  return proveCsr(parsed, readCanonicalCsr(parsed.der, parsed.spki) ?? readCsrWithPeculiar(parsed.der, parsed.spki));
}

/** The checks on one reading of the CSR: its scheme against its key, then its signature (exported for the differential test). */
export function proveCsr(parsed: ParsedCsr, reading: CsrReading): CheckedCsr {
  const { publicKey: key, keyType } = parsed;
  const { algorithm } = reading;
  if (!HASHES.has(algorithm.hash)) throw refuse("must be signed with SHA-256, SHA-384 or SHA-512", `signature hash ${algorithm.hash}`);
  if (FAMILY[algorithm.name] !== keyType) throw refuse("signature algorithm does not match its key", `${algorithm.name} with an ${keyType} key`);
  // node:crypto verifies the bytes as received (certificationRequestInfo, RFC 2986 §4.2) with the
  // key parseCsr imported, synchronously: ECDSA signatures in DER (RFC 5480 §2.2, RFC 3279
  // §2.2.3), which OpenSSL reads strictly (a non-DER encoding does not verify).
  let verified = false;
  try {
    const options = algorithm.name === "RSA-PSS" ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: algorithm.saltLength } : key;
    verified = verify(algorithm.hash.replace("-", "").toLowerCase(), parsed.signedPart, options, reading.signature);
  } catch (error) {
    throw refuse("signature cannot be verified", `verify threw: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!verified) throw refuse("signature does not verify: it must be signed by the key it carries (proof of possession)");
  return { publicKey: key, spki: parsed.spki, keyType, asks: reading.asks() };
}

/** Which key type each signature scheme (as @peculiar/x509 names them) belongs to. */
const FAMILY: Readonly<Record<string, "ec" | "rsa">> = { ECDSA: "ec", "RSASSA-PKCS1-v1_5": "rsa", "RSA-PSS": "rsa" };

function checkKey(spki: Buffer): { key: KeyObject; keyType: "ec" | "rsa" } {
  let key;
  try {
    // The usual EC form is imported from its coordinates (the same key: OpenSSL checks the point
    // is on the curve either way), at about half the cost of OpenSSL 3's DER decoder.
    const point = ecPointOf(spki);
    key = point === undefined ? createPublicKey({ key: spki, format: "der", type: "spki" }) : createPublicKey({ key: { kty: "EC", ...point }, format: "jwk" });
  } catch {
    throw refuse("key type is not supported: use EC P-256, EC P-384 or RSA (2048 to 4096 bits)", "public key does not parse");
  }
  if (key.asymmetricKeyType === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === "prime256v1" || curve === "secp384r1") return { key, keyType: "ec" };
    throw refuse("key type is not supported: EC keys must be P-256 or P-384", `curve ${curve ?? "unknown"}`);
  }
  if (key.asymmetricKeyType === "rsa") {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS) throw refuse(`RSA keys must have ${MIN_RSA_BITS} to ${MAX_RSA_BITS} bits`, `RSA ${bits} bits`);
    // Read from the SubjectPublicKeyInfo, before any signature work: verifying with a
    // 3,000-bit exponent costs ~8 ms of CPU, which an unauthenticated caller could repeat.
    const exponent = key.asymmetricKeyDetails?.publicExponent;
    if (exponent !== RSA_EXPONENT) throw refuse("RSA key exponent must be 65537", `RSA exponent of ${exponent === undefined ? "unknown" : exponent.toString(2).length} bits`);
    return { key, keyType: "rsa" };
  }
  throw refuse("key type is not supported: use EC P-256, EC P-384 or RSA (2048 to 4096 bits)", `key type ${key.asymmetricKeyType ?? "unknown"}`);
}

/**
 * Refuses a CSR that asks for anything the grant does not give (X509-SVID §4): a CA, certificate
 * or CRL signing, a URI SAN other than the granted SPIFFE ID, DNS names outside the grant, any
 * other SAN kind, a SPIFFE ID in the subject, a common name that is not a granted DNS name.
 * What it may ask for is ignored anyway: the certificate is built from the grant.
 */
export function checkCsrAgainstGrant(asks: CsrAsks, grant: { spiffeId: string; dnsNames: readonly string[] }): void {
  if (asks.ca) throw refuse("asks for a CA certificate (basicConstraints CA:TRUE): an SVID is a leaf");
  if (asks.certificateSigning) throw refuse("asks for keyCertSign or cRLSign key usage: an SVID signs no certificates");
  if (asks.uris.some((uri) => uri !== grant.spiffeId)) {
    throw refuse("asks for a URI SAN other than the granted SPIFFE ID", `URI SANs ${asks.uris.join(", ")} vs ${grant.spiffeId}`);
  }
  const ungranted = asks.dnsNames.filter((name) => !grant.dnsNames.includes(name.toLowerCase()));
  if (ungranted.length > 0) throw refuse("asks for DNS names that are not granted", `DNS SANs ${ungranted.join(", ")}`);
  if (asks.otherNames.length > 0) throw refuse(`asks for SAN kinds an SVID cannot carry (${[...new Set(asks.otherNames)].join(", ")})`);
  if (asks.spiffeIdInSubject) throw refuse("puts a SPIFFE ID in its subject: the SPIFFE ID belongs in the URI SAN only (X509-SVID §2)");
  const badCn = asks.commonNames.filter((name) => !grant.dnsNames.includes(name.toLowerCase()));
  if (badCn.length > 0) throw refuse("subject common name must be empty or a granted DNS name", `CN ${badCn.join(", ")}`);
}
