import { constants, createPublicKey, verify, type KeyObject } from "node:crypto";
import { BrokerError } from "../../errors/broker-error.js";
import { bytesOf, childrenOf, readWhole } from "./der-reader.js";
import { x509 } from "./x509.js";

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
  readonly asks: {
    readonly uris: readonly string[];
    readonly dnsNames: readonly string[];
    /** Other SAN kinds (email, IP, directory name, …) by kind. */
    readonly otherNames: readonly string[];
    readonly commonNames: readonly string[];
    /** Any subject attribute value naming a SPIFFE ID. */
    readonly spiffeIdInSubject: boolean;
    readonly ca: boolean;
    readonly certificateSigning: boolean;
  };
}

const refuse = (description: string, detail?: string) => new BrokerError("invalid_request", `csr ${description}`, { detail: `csr ${detail ?? description}` });

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
    throw refuse("is not a valid PKCS#10 certificate request", `DER parse failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  const { key, keyType } = checkKey(spki);
  return { der, publicKey: key, spki, keyType, signedPart };
}

/**
 * Parses the rest of a CSR, checks its signature scheme and verifies its self-signature (proof of
 * possession of the private key), and reads what it asks for. The signature work is bounded by
 * {@link parseCsr}'s key checks; run it only for an authenticated caller.
 */
export function verifyCsr(parsed: ParsedCsr): CheckedCsr {
  const { publicKey: key, keyType } = parsed;
  let request: x509.Pkcs10CertificateRequest;
  try {
    request = new x509.Pkcs10CertificateRequest(parsed.der);
  } catch (error) {
    throw refuse("is not a valid PKCS#10 certificate request", `DER parse failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  // Both readings must agree on the key: the one checked is the one certified.
  if (!Buffer.from(request.publicKey.rawData).equals(parsed.spki)) throw refuse("is not a valid PKCS#10 certificate request", "SubjectPublicKeyInfo is not in DER");
  const algorithm = signatureAlgorithmOf(request);
  if (!HASHES.has(algorithm.hash)) throw refuse("must be signed with SHA-256, SHA-384 or SHA-512", `signature hash ${algorithm.hash}`);
  if (FAMILY[algorithm.name] !== keyType) throw refuse("signature algorithm does not match its key", `${algorithm.name} with an ${keyType} key`);
  // node:crypto verifies the bytes as received (certificationRequestInfo) with the key already
  // imported by parseCsr: @peculiar's verify() would re-import the key through WebCrypto (~0.6 ms).
  let verified = false;
  try {
    const options = algorithm.name === "RSA-PSS" ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: algorithm.saltLength } : key;
    verified = verify(algorithm.hash.replace("-", "").toLowerCase(), parsed.signedPart, options, Buffer.from(request.signature));
  } catch (error) {
    throw refuse("signature cannot be verified", `verify threw: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!verified) throw refuse("signature does not verify: it must be signed by the key it carries (proof of possession)");
  return { publicKey: key, spki: parsed.spki, keyType, asks: asksOf(request) };
}

function checkKey(spki: Buffer): { key: KeyObject; keyType: "ec" | "rsa" } {
  let key;
  try {
    key = createPublicKey({ key: spki, format: "der", type: "spki" });
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

/** Which key type each signature scheme @peculiar/x509 names belongs to. */
const FAMILY: Readonly<Record<string, "ec" | "rsa">> = { ECDSA: "ec", "RSASSA-PKCS1-v1_5": "rsa", "RSA-PSS": "rsa" };

/** The CSR's signature scheme as @peculiar/x509 maps its AlgorithmIdentifier (RFC 5758, RFC 4055). */
function signatureAlgorithmOf(csr: x509.Pkcs10CertificateRequest): { name: string; hash: string; saltLength?: number } {
  try {
    const algorithm = csr.signatureAlgorithm as { name?: string; hash?: { name?: string } | string; saltLength?: number };
    const hash = typeof algorithm.hash === "string" ? algorithm.hash : (algorithm.hash?.name ?? "unknown");
    return { name: algorithm.name ?? "unknown", hash, ...(algorithm.saltLength === undefined ? {} : { saltLength: algorithm.saltLength }) };
  } catch {
    throw refuse("signature algorithm is not supported");
  }
}

function asksOf(csr: x509.Pkcs10CertificateRequest): CheckedCsr["asks"] {
  const uris: string[] = [];
  const dnsNames: string[] = [];
  const otherNames: string[] = [];
  let ca = false;
  let certificateSigning = false;
  let extensions: x509.Extension[];
  try {
    extensions = csr.extensions;
  } catch {
    throw refuse("extension request cannot be read");
  }
  for (const extension of extensions) {
    if (extension instanceof x509.SubjectAlternativeNameExtension) {
      for (const name of extension.names.items) {
        if (name.type === "url") uris.push(name.value);
        else if (name.type === "dns") dnsNames.push(name.value);
        else otherNames.push(name.type);
      }
    } else if (extension instanceof x509.BasicConstraintsExtension) {
      ca ||= extension.ca;
    } else if (extension instanceof x509.KeyUsagesExtension) {
      certificateSigning ||= (extension.usages & (x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign)) !== 0;
    }
  }
  const subject = csr.subjectName.toJSON();
  const values = subject.flatMap((rdn) => Object.values(rdn).flat());
  const commonNames = subject.flatMap((rdn) => rdn.CN ?? []);
  return { uris, dnsNames, otherNames, commonNames, ca, certificateSigning, spiffeIdInSubject: values.some((value) => /spiffe:/i.test(value)) };
}

/**
 * Refuses a CSR that asks for anything the grant does not give (X509-SVID §4): a CA, certificate
 * or CRL signing, a URI SAN other than the granted SPIFFE ID, DNS names outside the grant, any
 * other SAN kind, a SPIFFE ID in the subject, a common name that is not a granted DNS name.
 * What it may ask for is ignored anyway: the certificate is built from the grant.
 */
export function checkCsrAgainstGrant(asks: CheckedCsr["asks"], grant: { spiffeId: string; dnsNames: readonly string[] }): void {
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
