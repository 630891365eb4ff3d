/**
 * The hand-written DER of an X.509-SVID against @peculiar/x509's object model: for any template
 * and any supported CA and workload key, the TBSCertificate the broker writes is byte for byte the
 * one @peculiar/x509 writes for the same certificate (and, with an RSA CA, whose PKCS#1 v1.5
 * signatures are deterministic, the whole certificate is). The DER writer and reader on their own.
 */
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { caKeySigning } from "../../../src/credentials/x509/ca-key-webcrypto.js";
import { ensureDevCa, loadDevCa, type CertificateAuthority } from "../../../src/credentials/x509/ca-store.js";
import { bytesOf, childrenOf, readElement, readWhole, subjectPublicKeyBits } from "../../../src/credentials/x509/der-reader.js";
import { namedBits, oid, time, tlv, unsignedInteger } from "../../../src/credentials/x509/der-writer.js";
import { signSvid } from "../../../src/credentials/x509/sign-svid.js";
import { svidSigningProfile, type SvidSigningProfile } from "../../../src/credentials/x509/svid-signing-profile.js";
import type { SvidTemplate } from "../../../src/credentials/x509/svid-template.js";
import { x509 } from "../../../src/credentials/x509/x509.js";
import { TRUST_DOMAIN } from "../../support/svid-harness.js";
import { testRootCa } from "../../support/test-root-ca.js";

/** What sign-svid.ts did before it wrote DER itself: the reference encoding. */
async function peculiarSvid(ca: CertificateAuthority, template: SvidTemplate, spki: Buffer): Promise<Buffer> {
  const publicKey = new x509.PublicKey(spki);
  const usages = x509.KeyUsageFlags.digitalSignature | (template.keyEncipherment ? x509.KeyUsageFlags.keyEncipherment : 0);
  const names = [{ type: "url" as const, value: template.spiffeId }, ...template.dnsNames.map((value) => ({ type: "dns" as const, value }))];
  const ski = ca.certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  const signing = caKeySigning(ca.key);
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: template.serial,
    subject: template.subject.map((rdn) => ({ ...rdn })),
    issuer: ca.certificate.subjectName,
    notBefore: template.notBefore,
    notAfter: template.notAfter,
    publicKey,
    signingKey: signing.signingKey,
    signingAlgorithm: signing.signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(usages, true),
      new x509.ExtendedKeyUsageExtension(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"], false),
      new x509.SubjectAlternativeNameExtension(names, false),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      ski !== null ? new x509.AuthorityKeyIdentifierExtension(ski.keyId, false) : await x509.AuthorityKeyIdentifierExtension.create(ca.certificate.publicKey, false),
    ],
  }, signing.crypto);
  return Buffer.from(certificate.rawData);
}

const tbsOf = (certificate: Buffer): Buffer => {
  const [tbs] = childrenOf(certificate, readWhole(certificate));
  if (tbs === undefined) throw new Error("no TBSCertificate");
  return bytesOf(certificate, tbs);
};

const spkiOf = (key: KeyObject): Buffer => key.export({ format: "der", type: "spki" });
const WORKLOAD_KEYS = {
  ec: [spkiOf(generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey), spkiOf(generateKeyPairSync("ec", { namedCurve: "P-384" }).publicKey)],
  rsa: [spkiOf(generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey)],
};

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/);
const dnsName = fc.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join("."));
const spiffeId = fc.array(fc.stringMatching(/^[A-Za-z0-9._-]{1,40}$/), { minLength: 1, maxLength: 30 }).map((segments) => `spiffe://${TRUST_DOMAIN}/${segments.join("/")}`);
// RFC 5280 §4.1.2.2: positive (for a zero serial @peculiar/x509 silently writes a random one instead).
const serial = fc
  .uint8Array({ minLength: 1, maxLength: 20 })
  .filter((bytes) => bytes.some((byte) => byte !== 0))
  .map((bytes) => Buffer.from(bytes).toString("hex"));
const instant = fc.integer({ min: Date.UTC(1970, 0, 1) / 1000, max: Date.UTC(2200, 0, 1) / 1000 }).map((seconds) => new Date(seconds * 1000));
const template = fc.record({ serial, spiffeId, dnsNames: fc.array(dnsName, { maxLength: 5 }), keyType: fc.constantFrom("ec" as const, "rsa" as const), notBefore: instant, notAfter: instant, keyIndex: fc.nat() });

let dir: string;
const cas: Record<string, { ca: CertificateAuthority; profile: SvidSigningProfile }> = {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "svid-der-"));
  await ensureDevCa(dir, TRUST_DOMAIN, new Date());
  const entries: [string, CertificateAuthority][] = [
    ["development root (EC P-256)", await loadDevCa(dir, TRUST_DOMAIN, new Date())],
    ["EC P-384 root, SHA-384", await testRootCa({ name: "ECDSA", namedCurve: "P-384", hash: "SHA-384" }, true)],
    ["RSA-2048 root without a subject key identifier", await testRootCa({ name: "RSASSA-PKCS1-v1_5", hash: "SHA-256", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) }, false)],
  ];
  for (const [name, ca] of entries) cas[name] = { ca, profile: svidSigningProfile(ca) };
}, 60_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("an SVID written as DER is the certificate @peculiar/x509 writes", () => {
  it.each(["development root (EC P-256)", "EC P-384 root, SHA-384", "RSA-2048 root without a subject key identifier"])("under a %s", async (name) => {
    const { ca, profile } = cas[name] as { ca: CertificateAuthority; profile: SvidSigningProfile };
    await fc.assert(
      fc.asyncProperty(template, async (input) => {
        const keys = WORKLOAD_KEYS[input.keyType];
        const spki = keys[input.keyIndex % keys.length] as Buffer;
        const svid: SvidTemplate = {
          serial: input.serial,
          spiffeId: input.spiffeId,
          dnsNames: input.dnsNames,
          keyEncipherment: input.keyType === "rsa",
          notBefore: input.notBefore,
          notAfter: input.notAfter,
          subject: [{ O: ["SPIFFE"] }, ...(input.dnsNames[0] === undefined ? [] : [{ CN: [input.dnsNames[0]] }])],
        };
        const ours = await signSvid(profile, svid, spki);
        const theirs = await peculiarSvid(ca, svid, spki);
        expect(tbsOf(ours).equals(tbsOf(theirs))).toBe(true);
        // The signature is the CA's over those bytes, in the same envelope.
        const parsed = new x509.X509Certificate(ours);
        expect(await parsed.verify({ publicKey: ca.certificate.publicKey, signatureOnly: true })).toBe(true);
        if (ca.key.signingAlgorithm.name === "RSASSA-PKCS1-v1_5") expect(ours.equals(theirs)).toBe(true);
      }),
      { numRuns: 25 },
    );
  }, 120_000);
});

describe("DER writer", () => {
  it("writes lengths in their shortest form: one byte up to 127, then 0x81, 0x82, …", () => {
    for (const [length, header] of [
      [0, "0400"],
      [127, "047f"],
      [128, "048180"],
      [255, "0481ff"],
      [256, "04820100"],
      [65_535, "0482ffff"],
      [65_536, "0483010000"],
      [16_777_216, "048401000000"],
    ] as const) {
      const encoded = tlv(0x04, Buffer.alloc(length, 0xaa));
      expect(encoded.subarray(0, header.length / 2).toString("hex")).toBe(header);
      expect(encoded.length).toBe(header.length / 2 + length);
      expect(encoded.subarray(header.length / 2).every((byte) => byte === 0xaa)).toBe(true);
    }
  });

  it("writes several contents one after the other, as one", () => {
    const parts = [Buffer.from("0102", "hex"), Buffer.alloc(0), Buffer.alloc(200, 3), Buffer.from("ff", "hex")];
    expect(tlv(0x30, ...parts).equals(tlv(0x30, Buffer.concat(parts)))).toBe(true);
    expect(tlv(0x30, ...parts).subarray(0, 3).toString("hex")).toBe("3081cb");
  });

  it("refuses to sign a certificate with a zero serial (RFC 5280 §4.1.2.2: positive)", async () => {
    const { profile } = cas["development root (EC P-256)"] as { profile: SvidSigningProfile };
    const spki = WORKLOAD_KEYS.ec[0] as Buffer;
    const svid: SvidTemplate = { serial: "0000", spiffeId: `spiffe://${TRUST_DOMAIN}/w`, dnsNames: [], keyEncipherment: false, notBefore: new Date(0), notAfter: new Date(1000), subject: [{ O: ["SPIFFE"] }] };
    await expect(signSvid(profile, svid, spki)).rejects.toThrow(/positive/);
  });

  it("writes INTEGERs minimally and positive", () => {
    expect(unsignedInteger("00").toString("hex")).toBe("020100");
    expect(unsignedInteger("0001").toString("hex")).toBe("020101");
    expect(unsignedInteger("7f").toString("hex")).toBe("02017f");
    expect(unsignedInteger("80").toString("hex")).toBe("02020080");
    expect(unsignedInteger("abc").toString("hex")).toBe("02020abc");
    expect(() => unsignedInteger("-1")).toThrow();
  });

  it("writes OIDs as node:crypto reads them back (base-128 arcs)", () => {
    expect(oid("1.2.840.10045.4.3.2").toString("hex")).toBe("06082a8648ce3d040302");
    expect(oid("2.5.29.17").toString("hex")).toBe("0603551d11");
    expect(oid("2.999.1").toString("hex")).toBe("0603883701");
    expect(() => oid("3.1")).toThrow();
    expect(() => oid("1.40")).toThrow();
    expect(() => oid("1.2.03")).toThrow();
  });

  it("writes UTCTime until 2049 and GeneralizedTime from 2050 (RFC 5280 §4.1.2.5)", () => {
    expect(time(new Date("2049-12-31T23:59:59.999Z")).toString("latin1")).toBe("\x17\x0d491231235959Z");
    expect(time(new Date("2050-01-01T00:00:00Z")).toString("latin1")).toBe("\x18\x0f20500101000000Z");
    expect(time(new Date("1949-12-31T23:59:59Z")).toString("latin1")).toBe("\x18\x0f19491231235959Z");
    expect(() => time(new Date(Number.NaN))).toThrow();
  });

  it("writes keyUsage bits with the trailing zero bits dropped (X.690 §11.2.2)", () => {
    expect(namedBits([0]).toString("hex")).toBe("03020780");
    expect(namedBits([0, 2]).toString("hex")).toBe("030205a0");
    expect(namedBits([8]).toString("hex")).toBe("0303070080");
  });
});

describe("DER reader", () => {
  it.each([
    ["an indefinite length", "3080"],
    ["a length not in its shortest form", "30810100"],
    ["a length with a leading zero byte", "3082000100"],
    ["an element running past the end", "300301"],
    ["a truncated header", "30"],
    ["a high tag number", "1f0100"],
  ])("refuses %s", (_name, hex) => {
    expect(() => readElement(Buffer.from(hex, "hex"))).toThrow(/DER/);
  });

  it("refuses bytes after the outermost element, and children that overflow their parent", () => {
    expect(() => readWhole(Buffer.from("300000", "hex"))).toThrow(/after the end/);
    const overflowing = Buffer.from("3003020501", "hex");
    expect(() => childrenOf(overflowing, readWhole(overflowing))).toThrow(/DER/);
  });

  it("reads the subjectPublicKey bits that key identifiers hash", () => {
    const key = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
    const bits = subjectPublicKeyBits(spkiOf(key));
    const jwk = key.export({ format: "jwk" });
    expect(bits.toString("hex")).toBe(`04${Buffer.from(jwk.x ?? "", "base64url").toString("hex")}${Buffer.from(jwk.y ?? "", "base64url").toString("hex")}`);
  });
});
