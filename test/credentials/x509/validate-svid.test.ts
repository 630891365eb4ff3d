/**
 * The self-check after signing: a certificate the signer got right passes; one that differs from
 * the grant in any single way the check covers is refused with that reason. The wrong ones are
 * built with @peculiar/x509, signed by the real CA key unless the case is about the signature.
 */
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { caKeySigning } from "../../../src/credentials/x509/ca-key-webcrypto.js";
import { ensureDevCa, loadDevCa, type CertificateAuthority } from "../../../src/credentials/x509/ca-store.js";
import { signSvid } from "../../../src/credentials/x509/sign-svid.js";
import { svidSigningProfile, type SvidSigningProfile } from "../../../src/credentials/x509/svid-signing-profile.js";
import { svidTemplate, type SvidTemplate } from "../../../src/credentials/x509/svid-template.js";
import { validateSvid, type SvidExpectation } from "../../../src/credentials/x509/validate-svid.js";
import { subtle, x509 } from "../../../src/credentials/x509/x509.js";
import { TRUST_DOMAIN } from "../../support/svid-harness.js";

const SPIFFE_ID = `spiffe://${TRUST_DOMAIN}/ns/payments/sa/ledger`;
const DNS_NAMES = ["ledger.payments.svc"];
const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

let dir: string;
let ca: CertificateAuthority;
let profile: SvidSigningProfile;
let template: SvidTemplate;
let workloadKey: KeyObject;
let spki: Buffer;
let expected: SvidExpectation;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "validate-svid-"));
  const now = new Date();
  await ensureDevCa(dir, TRUST_DOMAIN, now);
  ca = await loadDevCa(dir, TRUST_DOMAIN, now);
  profile = svidSigningProfile(ca);
  workloadKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
  spki = workloadKey.export({ format: "der", type: "spki" });
  template = svidTemplate({ spiffeId: SPIFFE_ID, dnsNames: DNS_NAMES, keyType: "ec", now: Math.floor(now.getTime() / 1000), lifetimeSeconds: 600, caNotAfter: ca.notAfter });
  expected = { spiffeId: SPIFFE_ID, dnsNames: DNS_NAMES, spki, serial: template.serial, notBefore: template.notBefore, notAfter: template.notAfter, subject: template.subject };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** What an SVID may be made to differ in. */
interface Variant {
  readonly issuer?: string;
  readonly signingKey?: Awaited<ReturnType<typeof subtle.importKey>>;
  readonly serial?: string;
  readonly notAfter?: Date;
  readonly publicKey?: Buffer;
  readonly names?: readonly { type: "url" | "dns"; value: string }[];
  readonly ca?: boolean;
  readonly constraintsCritical?: boolean;
  readonly usages?: number;
  readonly usageCritical?: boolean;
  readonly ekus?: readonly string[];
  readonly omit?: "basicConstraints" | "keyUsage";
  readonly repeatKeyUsage?: boolean;
  readonly notBefore?: Date;
  readonly subject?: Record<string, string[]>[];
  readonly sanCritical?: boolean;
  readonly extra?: "unknownExtension" | "withoutAuthorityKeyId";
}

async function svid(variant: Variant = {}): Promise<Buffer> {
  const usage = new x509.KeyUsagesExtension(variant.usages ?? x509.KeyUsageFlags.digitalSignature, variant.usageCritical ?? true);
  const names = variant.names ?? [{ type: "url" as const, value: SPIFFE_ID }, ...DNS_NAMES.map((value) => ({ type: "dns" as const, value }))];
  // The CA key signs through its port; another key (a case about the signature) through WebCrypto.
  const signing = caKeySigning(ca.key);
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: variant.serial ?? template.serial,
    subject: variant.subject ?? template.subject.map((rdn) => ({ ...rdn })),
    issuer: variant.issuer ?? ca.certificate.subjectName,
    notBefore: variant.notBefore ?? template.notBefore,
    notAfter: variant.notAfter ?? template.notAfter,
    publicKey: new x509.PublicKey(variant.publicKey ?? spki),
    signingKey: variant.signingKey ?? signing.signingKey,
    signingAlgorithm: ca.key.signingAlgorithm,
    extensions: [
      ...(variant.omit === "basicConstraints" ? [] : [new x509.BasicConstraintsExtension(variant.ca ?? false, undefined, variant.constraintsCritical ?? true)]),
      ...(variant.omit === "keyUsage" ? [] : [usage]),
      ...(variant.repeatKeyUsage ? [usage] : []),
      new x509.ExtendedKeyUsageExtension([...(variant.ekus ?? [SERVER_AUTH, CLIENT_AUTH])], false),
      new x509.SubjectAlternativeNameExtension([...names], variant.sanCritical ?? false),
      await x509.SubjectKeyIdentifierExtension.create(new x509.PublicKey(variant.publicKey ?? spki)),
      ...(variant.extra === "withoutAuthorityKeyId" ? [] : [new x509.AuthorityKeyIdentifierExtension(profile.authorityKeyId.toString("hex"), false)]),
      ...(variant.extra === "unknownExtension" ? [new x509.Extension("1.3.6.1.4.1.99999.1", false, new Uint8Array([0x05, 0x00]))] : []),
    ],
  }, signing.crypto);
  return Buffer.from(certificate.rawData);
}

describe("validateSvid", () => {
  it("passes the certificate signSvid writes, and the same certificate built with @peculiar/x509", async () => {
    const signed = await signSvid(profile, template, spki);
    expect(() => validateSvid(signed, profile, expected)).not.toThrow();
    const built = await svid();
    expect(() => validateSvid(built, profile, expected)).not.toThrow();
  });

  it.each<[string, () => Promise<Variant>, RegExp]>([
    ["signed by another key", async () => ({ signingKey: (await subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"])).privateKey }), /signature does not verify/],
    ["naming another issuer", async () => ({ issuer: "CN=someone else" }), /not issued by the CA/],
    ["a CA that may sign certificates", async () => ({ ca: true, usages: x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign }), /is a CA/],
    ["saying CA:TRUE", async () => ({ ca: true }), /basicConstraints missing, not critical or CA/],
    ["basicConstraints not critical", async () => ({ constraintsCritical: false }), /basicConstraints missing, not critical or CA/],
    ["without basicConstraints", async () => ({ omit: "basicConstraints" }), /basicConstraints missing/],
    ["keyUsage not critical", async () => ({ usageCritical: false }), /keyUsage missing or not critical/],
    ["without keyUsage", async () => ({ omit: "keyUsage" }), /keyUsage missing/],
    ["keyUsage without digitalSignature", async () => ({ usages: x509.KeyUsageFlags.keyEncipherment }), /lacks digitalSignature/],
    ["keyUsage allowing certificate signing", async () => ({ usages: x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign }), /allows certificate or CRL signing/],
    ["keyUsage allowing CRL signing", async () => ({ usages: x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.cRLSign }), /allows certificate or CRL signing/],
    ["keyUsage twice", async () => ({ repeatKeyUsage: true }), /appears more than once/],
    ["EKU without clientAuth", async () => ({ ekus: [SERVER_AUTH] }), /EKU lacks/],
    ["a DNS name not granted", async () => ({ names: [{ type: "url", value: SPIFFE_ID }, { type: "dns", value: "www.bank.example" }] }), /SANs .* are not/],
    ["a second URI SAN", async () => ({ names: [{ type: "url", value: SPIFFE_ID }, { type: "url", value: `spiffe://${TRUST_DOMAIN}/admin` }, { type: "dns", value: DNS_NAMES[0] as string }] }), /exactly one URI SAN/],
    ["another SPIFFE ID", async () => ({ names: [{ type: "url", value: `spiffe://${TRUST_DOMAIN}/admin` }, { type: "dns", value: DNS_NAMES[0] as string }] }), /SANs .* are not/],
    ["another public key", async () => ({ publicKey: generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "der", type: "spki" }) }), /public key is not the CSR's/],
    ["another serial", async () => ({ serial: "01" }), /serial differs/],
    ["another expiry", async () => ({ notAfter: new Date(template.notAfter.getTime() + 1000) }), /notAfter differs/],
    ["another start", async () => ({ notBefore: new Date(template.notBefore.getTime() - 1000) }), /notBefore differs/],
    ["with another subject", async () => ({ subject: [{ O: ["SPIFFE"] }, { CN: ["www.bank.example"] }] as Record<string, string[]>[] }), /subject is not the planned one/],
    ["a critical subjectAltName", async () => ({ sanCritical: true }), /subjectAltName is critical/],
    ["an extension an SVID does not carry", async () => ({ extra: "unknownExtension" }), /extension an SVID does not carry/],
    ["without the CA's key identifier", async () => ({ extra: "withoutAuthorityKeyId" }), /authorityKeyIdentifier differs/],
  ])("refuses a certificate %s", async (_name, variant, reason) => {
    const der = await svid(await variant());
    expect(() => validateSvid(der, profile, expected)).toThrow(reason);
  });

  // signSvid's own bytes with one encoding changed in place (same length): the signature no longer
  // verifies either, but the strict reader must name the extension problem too.
  it.each<[string, string, string, RegExp]>([
    ["keyUsage critical written FALSE (not DER)", "0603551d0f0101ff", "0603551d0f010100", /extensions unreadable: .*critical/],
    ["basicConstraints critical written FALSE (not DER)", "0603551d130101ff", "0603551d13010100", /extensions unreadable: .*critical/],
    ["keyUsage with 8 unused bits", "040403020780", "040403020880", /extensions unreadable: .*BIT STRING/],
    ["keyUsage with keyCertSign set (bit 5)", "040403020780", "040403020284", /allows certificate or CRL signing/],
    ["keyUsage with a trailing zero bit (not DER)", "040403020780", "040403020680", /extensions unreadable: .*BIT STRING/],
    ["version 2 instead of 3", "a003020102", "a003020101", /not an X.509 v3 certificate/],
    ["keyUsage without digitalSignature (bit 2 only)", "040403020780", "040403020520", /lacks digitalSignature/],
    ["basicConstraints that is not a SEQUENCE", "0101ff04023000", "0101ff04020500", /extensions unreadable: .*SEQUENCE/],
  ])("refuses signSvid's certificate with %s", async (_name, from, to, reason) => {
    const signed = (await signSvid(profile, template, spki)).toString("hex");
    expect(signed.split(from)).toHaveLength(2);
    expect(() => validateSvid(Buffer.from(signed.replace(from, to), "hex"), profile, expected)).toThrow(reason);
  });

  it("refuses bytes that are not a certificate at all", () => {
    expect(() => validateSvid(Buffer.from("3000", "hex"), profile, expected)).toThrow();
  });
});
