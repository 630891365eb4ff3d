/**
 * The self-check every SVID gets before it leaves (validate-svid.ts, the strict DER reader and
 * crypto.verify) against the check it replaced, OpenSSL's reading through node:crypto's
 * X509Certificate (test/support/reference-svid-validator.ts), and against `openssl verify`:
 *
 * - every SVID the broker signs, for varied SPIFFE IDs, DNS names, P-256, P-384 and RSA CSR keys,
 *   lifetimes and CA caps, under EC P-256, EC P-384 and RSA CAs, passes both checks (and a
 *   sample passes `openssl verify -x509_strict`);
 * - every certificate the reference refuses, the new check refuses too (it may refuse more,
 *   never less): flipped bytes anywhere (not re-signed) and in each field or extension
 *   (re-signed by the CA, so only the field checks can catch it), SANs swapped, added or
 *   dropped, another key, serial, validity or signature algorithm, extensions dropped,
 *   duplicated, added or made (non-)critical, CA:TRUE, other key usages and EKUs, another
 *   signer, truncations.
 */
import { X509Certificate } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureDevCa, loadDevCa, type CertificateAuthority } from "../../../src/credentials/x509/ca-store.js";
import { parseCsr, type ParsedCsr } from "../../../src/credentials/x509/csr.js";
import { bytesOf, childrenOf, readWhole, type DerElement } from "../../../src/credentials/x509/der-reader.js";
import { bitString, DER_TRUE, explicit, ia5, octetString, oid, sequence, tlv } from "../../../src/credentials/x509/der-writer.js";
import { pemOf } from "../../../src/credentials/x509/pem.js";
import { signSvid } from "../../../src/credentials/x509/sign-svid.js";
import { svidSigningProfile, type SvidSigningProfile } from "../../../src/credentials/x509/svid-signing-profile.js";
import { svidTemplate } from "../../../src/credentials/x509/svid-template.js";
import { validateSvid, type SvidExpectation } from "../../../src/credentials/x509/validate-svid.js";
import { referenceValidateSvid, type ReferenceExpectation } from "../../support/reference-svid-validator.js";
import { makeCsr, openssl, TRUST_DOMAIN } from "../../support/svid-harness.js";
import { testRootCa } from "../../support/test-root-ca.js";

const SEED = 14_214;
const CA_NAMES = ["EC P-256 (development root)", "EC P-384, SHA-384", "RSA-2048, no subject key identifier"] as const;
type CaName = (typeof CA_NAMES)[number];
interface Ca {
  readonly ca: CertificateAuthority;
  readonly profile: SvidSigningProfile;
  readonly openssl: X509Certificate;
  readonly pemPath: string;
}

let dir: string;
const cas = {} as Record<CaName, Ca>;
const csrs: Record<"p256" | "p384" | "rsa2048", ParsedCsr[]> = { p256: [], p384: [], rsa2048: [] };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "validate-svid-differential-"));
  await ensureDevCa(dir, TRUST_DOMAIN, new Date());
  const made: [CaName, CertificateAuthority][] = [
    ["EC P-256 (development root)", await loadDevCa(dir, TRUST_DOMAIN, new Date())],
    ["EC P-384, SHA-384", await testRootCa({ name: "ECDSA", namedCurve: "P-384", hash: "SHA-384" }, true)],
    ["RSA-2048, no subject key identifier", await testRootCa({ name: "RSASSA-PKCS1-v1_5", hash: "SHA-256", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) }, false)],
  ];
  for (const [name, ca] of made) {
    const pemPath = join(dir, `${name.replace(/\W+/g, "-")}.pem`);
    await writeFile(pemPath, ca.certificate.toString("pem"));
    cas[name] = { ca, profile: svidSigningProfile(ca), openssl: new X509Certificate(Buffer.from(ca.certificate.rawData)), pemPath };
  }
  for (const key of ["p256", "p384", "rsa2048"] as const) {
    for (let index = 0; index < 2; index++) csrs[key].push(parseCsr((await makeCsr(dir, { key })).pem));
  }
}, 120_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// What a grant and a request can vary.
const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/);
const dnsName = fc.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join("."));
const spiffeId = fc.array(fc.stringMatching(/^[A-Za-z0-9._-]{1,30}$/), { minLength: 1, maxLength: 12 }).map((segments) => `spiffe://${TRUST_DOMAIN}/${segments.join("/")}`);
const issuance = fc.record({
  spiffeId,
  dnsNames: fc.uniqueArray(dnsName, { maxLength: 5 }),
  key: fc.constantFrom("p256" as const, "p384" as const, "rsa2048" as const),
  keyIndex: fc.nat(),
  // From 1990 to 2120: both UTCTime and GeneralizedTime, the 2050 switch among them.
  now: fc.integer({ min: 631_152_000, max: 4_733_510_400 }),
  lifetimeSeconds: fc.integer({ min: 1, max: 400 * 86_400 }),
  caLeftSeconds: fc.integer({ min: 1, max: 800 * 86_400 }),
});
type Issuance = typeof issuance extends fc.Arbitrary<infer T> ? T : never;

interface Issued {
  readonly der: Buffer;
  readonly expected: SvidExpectation;
  readonly reference: ReferenceExpectation;
}

async function issue(ca: Ca, input: Issuance): Promise<Issued> {
  const keys = csrs[input.key];
  const csr = keys[input.keyIndex % keys.length] as ParsedCsr;
  const template = svidTemplate({ spiffeId: input.spiffeId, dnsNames: input.dnsNames, keyType: csr.keyType, now: input.now, lifetimeSeconds: input.lifetimeSeconds, caNotAfter: input.now + input.caLeftSeconds });
  const der = await signSvid(ca.profile, template, csr.spki);
  const { serial, notBefore, notAfter } = template;
  return {
    der,
    expected: { spiffeId: input.spiffeId, dnsNames: input.dnsNames, spki: csr.spki, serial, notBefore, notAfter, subject: template.subject },
    reference: { spiffeId: input.spiffeId, dnsNames: input.dnsNames, publicKey: csr.publicKey, serial, notAfter },
  };
}

const refuses = (check: () => void): boolean => {
  try {
    check();
    return false;
  } catch {
    return true;
  }
};

describe("validateSvid and the OpenSSL reading it replaced, on what the broker issues", () => {
  it.each(CA_NAMES)("both pass every SVID signed by the %s CA, and openssl verify passes a sample", async (name) => {
    const ca = cas[name];
    const sample: Buffer[] = [];
    await fc.assert(
      fc.asyncProperty(issuance, async (input) => {
        const { der, expected, reference } = await issue(ca, input);
        expect(() => validateSvid(der, ca.profile, expected)).not.toThrow();
        expect(() => referenceValidateSvid(der, ca.openssl, reference)).not.toThrow();
        if (sample.length < 4) sample.push(der);
      }),
      { seed: SEED, numRuns: 80 },
    );
    for (const [index, der] of sample.entries()) {
      const leaf = join(dir, `leaf-${name.length}-${index}.pem`);
      await writeFile(leaf, `${pemOf("CERTIFICATE", der)}\n`);
      // Times are random (1990–2120): the chain and signature are what is checked here. RFC 5280
      // strictness too, except under the root without a subject key identifier, which it refuses.
      const strict = name === "RSA-2048, no subject key identifier" ? [] : ["-x509_strict"];
      const result = await openssl(["verify", ...strict, "-no_check_time", "-purpose", "sslclient", "-CAfile", ca.pemPath, leaf]);
      expect(`${result.stdout}${result.stderr}`).toContain(": OK");
    }
  }, 120_000);
});

// Mutations of an issued SVID. A certificate is rebuilt from its TBS fields and extensions and
// re-signed by the CA (unless the mutation is of the signed bytes), so only field checks catch it.
interface Parts {
  fields: Buffer[];
  extensions: Buffer[];
}

function partsOf(der: Buffer): Parts {
  const [tbs] = childrenOf(der, readWhole(der));
  const fields = childrenOf(der, tbs as DerElement);
  const wrapper = fields[7] as DerElement;
  const list = childrenOf(der, wrapper)[0] as DerElement;
  return { fields: fields.slice(0, 7).map((field) => Buffer.from(bytesOf(der, field))), extensions: childrenOf(der, list).map((extension) => Buffer.from(bytesOf(der, extension))) };
}

async function rebuild(parts: Parts, signer: SvidSigningProfile, outer: Buffer): Promise<Buffer> {
  const tbs = sequence(...parts.fields, explicit(3, sequence(...parts.extensions)));
  return sequence(tbs, outer, bitString(await signer.sign(tbs)));
}

const flip = (bytes: Buffer, index: number, mask: number): Buffer => {
  const copy = Buffer.from(bytes);
  const at = index % copy.length;
  copy[at] = (copy[at] ?? 0) ^ mask;
  return copy;
};

/** An Extension with its id, criticality and value. */
const extension = (id: string, critical: boolean, value: Buffer): Buffer => (critical ? sequence(oid(id), DER_TRUE, octetString(value)) : sequence(oid(id), octetString(value)));
const extensionId = (encoded: Buffer): string => {
  const [type] = childrenOf(encoded, readWhole(encoded));
  return bytesOf(encoded, type as DerElement).toString("hex");
};
/** Re-encodes an extension with the other criticality. */
function toggleCritical(encoded: Buffer): Buffer {
  const fields = childrenOf(encoded, readWhole(encoded)).map((field) => Buffer.from(bytesOf(encoded, field)));
  return fields.length === 3 ? sequence(fields[0] as Buffer, fields[2] as Buffer) : sequence(fields[0] as Buffer, DER_TRUE, fields[1] as Buffer);
}
const replaceExtension = (parts: Parts, idHex: string, replacement: Buffer): Parts => ({ ...parts, extensions: parts.extensions.map((e) => (extensionId(e) === idHex ? replacement : e)) });
const SAN_ID = "0603551d11";
const KU_ID = "0603551d0f";
const BC_ID = "0603551d13";
const EKU_ID = "0603551d25";
const sanOf = (names: readonly [number, string][]) => extension("2.5.29.17", false, sequence(...names.map(([tag, value]) => ia5(value, tag))));

const mutation = fc.oneof(
  fc.record({ kind: fc.constant("flip signed bytes" as const), index: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant("truncate" as const), index: fc.nat() }),
  // TBS fields: 0 version, 1 serial, 2 signature algorithm, 3 issuer, 4 validity, 5 subject, 6 subjectPublicKeyInfo.
  fc.record({ kind: fc.constant("flip a field, re-signed" as const), field: fc.integer({ min: 0, max: 6 }), index: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant("flip an extension, re-signed" as const), which: fc.nat(), index: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant("drop an extension" as const), which: fc.nat() }),
  fc.record({ kind: fc.constant("duplicate an extension" as const), which: fc.nat() }),
  fc.record({ kind: fc.constant("toggle criticality" as const), which: fc.nat() }),
  fc.record({ kind: fc.constant("add an extension" as const), critical: fc.boolean() }),
  fc.record({ kind: fc.constant("other SANs" as const), names: fc.array(fc.tuple(fc.constantFrom(0x82, 0x86, 0x81), fc.oneof(dnsName, spiffeId)), { maxLength: 4 }), keepGranted: fc.boolean() }),
  fc.record({ kind: fc.constant("another key" as const), key: fc.constantFrom("p256" as const, "p384" as const, "rsa2048" as const), index: fc.nat() }),
  fc.record({ kind: fc.constant("another serial" as const), serial: fc.uint8Array({ minLength: 1, maxLength: 21 }) }),
  fc.record({ kind: fc.constant("another validity" as const), which: fc.integer({ min: 0, max: 1 }), seconds: fc.integer({ min: -100_000_000, max: 100_000_000 }).filter((s) => s !== 0) }),
  fc.record({ kind: fc.constant("another inner algorithm" as const), algorithm: fc.constantFrom("1.2.840.10045.4.3.2", "1.2.840.10045.4.3.3", "1.2.840.10045.4.3.4", "1.2.840.113549.1.1.11") }),
  fc.record({ kind: fc.constant("another signer" as const), signer: fc.constantFrom(...CA_NAMES) }),
  fc.record({ kind: fc.constant("other key usage" as const), bits: fc.integer({ min: 0, max: 0x1ff }), critical: fc.boolean() }),
  fc.record({ kind: fc.constant("other basic constraints" as const), value: fc.constantFrom("3003010100", "30030101ff", "30060101ff020100", "3003020100", "0500") }),
  fc.record({ kind: fc.constant("other EKUs" as const), purposes: fc.subarray(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2", "1.3.6.1.5.5.7.3.3", "2.5.29.37.0"]) }),
  fc.record({ kind: fc.constant("another version" as const), version: fc.constantFrom("a003020100", "a003020101", "a003020103") }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

/** The certificate with one mutation applied. */
async function mutate(ca: Ca, issued: Issued, m: Mutation): Promise<Buffer> {
  const { der, expected } = issued;
  const outer = bytesOf(der, childrenOf(der, readWhole(der))[1] as DerElement);
  const parts = partsOf(der);
  const resigned = (changed: Parts) => rebuild(changed, ca.profile, outer);
  const pick = <T>(list: readonly T[], n: number): T => list[n % list.length] as T;
  switch (m.kind) {
    case "flip signed bytes":
      return flip(der, m.index, m.mask);
    case "truncate":
      return der.subarray(0, m.index % der.length);
    case "flip a field, re-signed":
      return resigned({ ...parts, fields: parts.fields.map((field, index) => (index === m.field ? flip(field, m.index, m.mask) : field)) });
    case "flip an extension, re-signed":
      return resigned({ ...parts, extensions: parts.extensions.map((e, index) => (index === m.which % parts.extensions.length ? flip(e, m.index, m.mask) : e)) });
    case "drop an extension":
      return resigned({ ...parts, extensions: parts.extensions.filter((_e, index) => index !== m.which % parts.extensions.length) });
    case "duplicate an extension":
      return resigned({ ...parts, extensions: [...parts.extensions, pick(parts.extensions, m.which)] });
    case "toggle criticality":
      return resigned({ ...parts, extensions: parts.extensions.map((e, index) => (index === m.which % parts.extensions.length ? toggleCritical(e) : e)) });
    case "add an extension":
      return resigned({ ...parts, extensions: [...parts.extensions, extension("1.3.6.1.4.1.99999.1", m.critical, Buffer.from("0500", "hex"))] });
    case "other SANs": {
      const granted: [number, string][] = [[0x86, expected.spiffeId], ...expected.dnsNames.map((name): [number, string] => [0x82, name])];
      return resigned(replaceExtension(parts, SAN_ID, sanOf([...(m.keepGranted ? granted : []), ...m.names])));
    }
    case "another key":
      return resigned({ ...parts, fields: parts.fields.map((field, index) => (index === 6 ? pick(csrs[m.key], m.index).spki : field)) });
    case "another serial":
      return resigned({ ...parts, fields: parts.fields.map((field, index) => (index === 1 ? tlv(0x02, Buffer.from(m.serial)) : field)) });
    case "another validity": {
      const times = [expected.notBefore, expected.notAfter].map((time, index) => (index === m.which ? new Date(time.getTime() + m.seconds * 1000) : time));
      const encoded = times.map((time) => tlv(time.getUTCFullYear() >= 2050 || time.getUTCFullYear() < 1950 ? 0x18 : 0x17, Buffer.from(generalized(time, time.getUTCFullYear() >= 2050 || time.getUTCFullYear() < 1950), "latin1")));
      return resigned({ ...parts, fields: parts.fields.map((field, index) => (index === 4 ? sequence(...encoded) : field)) });
    }
    case "another inner algorithm": {
      const algorithm = m.algorithm.startsWith("1.2.840.113549") ? sequence(oid(m.algorithm), Buffer.from("0500", "hex")) : sequence(oid(m.algorithm));
      return resigned({ ...parts, fields: parts.fields.map((field, index) => (index === 2 ? algorithm : field)) });
    }
    case "another signer":
      return rebuild(parts, cas[m.signer].profile, outer);
    case "other key usage": {
      const bytes = Buffer.from([m.bits >> 1, (m.bits & 1) << 7]);
      return resigned(replaceExtension(parts, KU_ID, extension("2.5.29.15", m.critical, tlv(0x03, Buffer.from([7]), bytes))));
    }
    case "other basic constraints":
      return resigned(replaceExtension(parts, BC_ID, extension("2.5.29.19", true, Buffer.from(m.value, "hex"))));
    case "other EKUs":
      return resigned(replaceExtension(parts, EKU_ID, extension("2.5.29.37", false, sequence(...m.purposes.map((id) => oid(id))))));
    case "another version":
      return resigned({ ...parts, fields: [Buffer.from(m.version, "hex"), ...parts.fields.slice(1)] });
  }
}

/** YYMMDDHHMMSSZ or YYYYMMDDHHMMSSZ. */
function generalized(time: Date, long: boolean): string {
  const iso = time.toISOString();
  const text = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return long ? text : text.slice(2);
}

describe("validateSvid refuses every mutated SVID the OpenSSL reading refuses", () => {
  it.each(CA_NAMES)("under the %s CA", async (name) => {
    const ca = cas[name];
    const tally = new Map<string, { referenceRefused: number; oursRefused: number; runs: number }>();
    await fc.assert(
      fc.asyncProperty(issuance, mutation, async (input, m) => {
        const issued = await issue(ca, input);
        const mutated = await mutate(ca, issued, m);
        const referenceRefused = refuses(() => referenceValidateSvid(mutated, ca.openssl, issued.reference));
        const oursRefused = refuses(() => validateSvid(mutated, ca.profile, issued.expected));
        const count = tally.get(m.kind) ?? { referenceRefused: 0, oursRefused: 0, runs: 0 };
        tally.set(m.kind, { referenceRefused: count.referenceRefused + Number(referenceRefused), oursRefused: count.oursRefused + Number(oursRefused), runs: count.runs + 1 });
        if (referenceRefused) expect({ mutation: m, oursRefused }).toEqual({ mutation: m, oursRefused: true });
      }),
      { seed: SEED, numRuns: 600 },
    );
    // Every kind of mutation ran; the reference refused some of each kind it checks, and the new
    // check refused some of every kind (it is the stricter: unknown extensions, criticality, notBefore, …).
    expect(tally.size).toBe(18);
    for (const kind of ["flip signed bytes", "truncate", "flip a field, re-signed", "another key", "another serial", "another signer", "other SANs", "other key usage", "other EKUs"]) {
      expect({ kind, refused: (tally.get(kind)?.referenceRefused ?? 0) > 0 }).toEqual({ kind, refused: true });
    }
    for (const [kind, count] of tally) expect({ kind, refused: count.oursRefused > 0 }).toEqual({ kind, refused: true });
  }, 300_000);
});
