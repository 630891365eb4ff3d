/**
 * The CSR's proof of possession is checked with node:crypto on what the strict DER reader reads
 * (csr-der-reading.ts); @peculiar/x509 is the reference. A wrong accept here is a certificate for a
 * key the caller does not hold, so: every CSR either reading accepts, @peculiar/x509's own
 * `Pkcs10CertificateRequest.verify()` accepts too; and wherever the DER reader reads a CSR, the
 * outcome (accepted with the same asks, or refused with the same description and detail) is the
 * one @peculiar/x509's reading gives. Byte-by-byte mutations of real CSRs, re-signed or not, cover
 * the encodings nobody would write on purpose.
 */
import { createPublicKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BrokerError } from "../../../src/errors/broker-error.js";
import { readCanonicalCsr } from "../../../src/credentials/x509/csr-der-reading.js";
import { readCsrWithPeculiar } from "../../../src/credentials/x509/csr-peculiar-reading.js";
import type { CsrAsks } from "../../../src/credentials/x509/csr-reading.js";
import { parseCsr, proveCsr, verifyCsr } from "../../../src/credentials/x509/csr.js";
import { bytesOf, childrenOf, readWhole } from "../../../src/credentials/x509/der-reader.js";
import { bitString, DER_NULL, DER_TRUE, ia5, octetString, oid, sequence, setOf, tlv } from "../../../src/credentials/x509/der-writer.js";
import { ecPointOf } from "../../../src/credentials/x509/spki.js";
import { x509 } from "../../../src/credentials/x509/x509.js";
import { makeCsr, scratch } from "../../support/svid-harness.js";

type Outcome = { accepted: true; asks: CsrAsks } | { accepted: false; description: string; detail: string | undefined };

function settle(check: () => { asks: CsrAsks }): Outcome {
  try {
    return { accepted: true, asks: check().asks };
  } catch (error) {
    if (!(error instanceof BrokerError)) throw error;
    return { accepted: false, description: error.description, detail: error.detail };
  }
}

const pemOf = (der: Buffer) => `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64").match(/.{1,64}/g)?.join("\n")}\n-----END CERTIFICATE REQUEST-----\n`;
const derOf = (pem: string) => Buffer.from(pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64");

/** What the broker does with a CSR, what it does reading it with @peculiar/x509 only, and whether the DER reader read it. */
function judge(der: Buffer): { ours: Outcome; reference: Outcome; read: boolean } {
  let parsed: ReturnType<typeof parseCsr>;
  try {
    parsed = parseCsr(pemOf(der));
  } catch (error) {
    const refused = settle(() => {
      throw error;
    });
    return { ours: refused, reference: refused, read: false };
  }
  return {
    ours: settle(() => verifyCsr(parsed)),
    reference: settle(() => proveCsr(parsed, readCsrWithPeculiar(parsed.der, parsed.spki))),
    read: readCanonicalCsr(parsed.der, parsed.spki) !== undefined,
  };
}

/** @peculiar/x509's own verification, through WebCrypto: false when it cannot even read the CSR. */
async function peculiarVerifies(der: Buffer): Promise<boolean> {
  try {
    return await new x509.Pkcs10CertificateRequest(der).verify();
  } catch {
    return false;
  }
}

/** Asserts the invariants on one CSR and answers its outcome. */
async function expectAgreement(der: Buffer): Promise<{ ours: Outcome; read: boolean }> {
  const { ours, reference, read } = judge(der);
  if (read) expect(ours).toEqual(reference);
  if (ours.accepted) expect(await peculiarVerifies(der)).toBe(true);
  return { ours, read };
}

// CSRs built here (RFC 2986 §4), so that any field can be changed and the request re-signed.
const EXTENSION_REQUEST = oid("1.2.840.113549.1.9.14");
const ALGORITHM = {
  es256: sequence(oid("1.2.840.10045.4.3.2")),
  es384: sequence(oid("1.2.840.10045.4.3.3")),
  es512: sequence(oid("1.2.840.10045.4.3.4")),
  rs256: sequence(oid("1.2.840.113549.1.1.11"), DER_NULL),
  rs384: sequence(oid("1.2.840.113549.1.1.12"), DER_NULL),
  rs512: sequence(oid("1.2.840.113549.1.1.13"), DER_NULL),
};
const DIGEST: Record<keyof typeof ALGORITHM, string> = { es256: "sha256", es384: "sha384", es512: "sha512", rs256: "sha256", rs384: "sha384", rs512: "sha512" };
const VERSION_0 = Buffer.from([0x02, 0x01, 0x00]);
const rdn = (type: string, value: Buffer) => setOf(sequence(oid(type), value));
const printable = (text: string) => tlv(0x13, Buffer.from(text, "latin1"));
const utf8 = (text: string) => tlv(0x0c, Buffer.from(text, "utf8"));
const extension = (id: string, critical: boolean, value: Buffer) => (critical ? sequence(oid(id), DER_TRUE, octetString(value)) : sequence(oid(id), octetString(value)));
const extensionRequest = (...extensions: Buffer[]) => sequence(EXTENSION_REQUEST, setOf(sequence(...extensions)));

interface Shape {
  readonly subject?: Buffer;
  readonly attributes?: readonly Buffer[];
  readonly algorithm?: keyof typeof ALGORITHM;
  readonly spki?: Buffer;
  readonly version?: Buffer;
}

const infoOf = (key: KeyObject, shape: Shape) =>
  sequence(shape.version ?? VERSION_0, shape.subject ?? sequence(), shape.spki ?? createPublicKey(key).export({ format: "der", type: "spki" }), tlv(0xa0, ...(shape.attributes ?? [])));

/** A CSR over `info`, signed by `key` (DER ECDSA signatures, RFC 5480 §2.2). */
function signed(info: Buffer, key: KeyObject, algorithm: keyof typeof ALGORITHM): Buffer {
  return sequence(info, ALGORITHM[algorithm], bitString(sign(DIGEST[algorithm], info, key)));
}

const buildCsr = (key: KeyObject, shape: Shape = {}) => signed(infoOf(key, shape), key, shape.algorithm ?? (key.asymmetricKeyType === "rsa" ? "rs256" : "es256"));

const KEYS = {
  p256: generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey,
  p384: generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey,
  rsa2048: generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey,
};
const SPIFFE_ID = "spiffe://svid.test/ns/payments/sa/ledger";
/** The usual request: a CN, a SAN with the SPIFFE ID and a DNS name, basicConstraints, keyUsage and EKU. */
const FULL: Shape = {
  subject: sequence(rdn("2.5.4.10", printable("SPIFFE")), rdn("2.5.4.3", utf8("ledger.payments.svc"))),
  attributes: [
    extensionRequest(
      extension("2.5.29.17", false, sequence(ia5(SPIFFE_ID, 0x86), ia5("ledger.payments.svc", 0x82))),
      extension("2.5.29.19", true, sequence()),
      extension("2.5.29.15", true, Buffer.from([0x03, 0x02, 0x07, 0x80])),
      extension("2.5.29.37", false, sequence(oid("1.3.6.1.5.5.7.3.1"), oid("1.3.6.1.5.5.7.3.2"))),
    ),
  ],
};

let tmp: Awaited<ReturnType<typeof scratch>>;
beforeAll(async () => {
  tmp = await scratch();
});
afterAll(async () => {
  await tmp?.close();
});

describe("valid CSRs of each allowed key type", () => {
  it.each<[string, KeyObject, keyof typeof ALGORITHM]>([
    ["P-256, SHA-256", KEYS.p256, "es256"],
    ["P-256, SHA-384", KEYS.p256, "es384"],
    ["P-256, SHA-512", KEYS.p256, "es512"],
    ["P-384, SHA-384", KEYS.p384, "es384"],
    ["RSA-2048, PKCS#1 v1.5 SHA-256", KEYS.rsa2048, "rs256"],
    ["RSA-2048, PKCS#1 v1.5 SHA-384", KEYS.rsa2048, "rs384"],
    ["RSA-2048, PKCS#1 v1.5 SHA-512", KEYS.rsa2048, "rs512"],
  ])("%s: read by the DER reader, accepted with the same asks as the reference", async (_name, key, algorithm) => {
    for (const shape of [{ algorithm }, { ...FULL, algorithm }]) {
      const { ours, read } = await expectAgreement(buildCsr(key, shape));
      expect(read).toBe(true);
      expect(ours.accepted).toBe(true);
    }
  });

  it.each<[string, Parameters<typeof makeCsr>[1]]>([
    ["openssl P-256 with SANs and a CN", { subject: "/O=SPIFFE/CN=ledger.payments.svc", addext: [`subjectAltName=URI:${SPIFFE_ID},DNS:ledger.payments.svc`, "keyUsage=critical,digitalSignature", "extendedKeyUsage=serverAuth,clientAuth"] }],
    ["openssl P-384", { key: "p384" }],
    ["openssl RSA-2048", { key: "rsa2048", addext: ["basicConstraints=critical,CA:FALSE"] }],
  ])("%s: read by the DER reader and accepted", async (_name, options) => {
    const { ours, read } = await expectAgreement(derOf((await makeCsr(tmp.dir, options)).pem));
    expect(read).toBe(true);
    expect(ours.accepted).toBe(true);
  });

  it("RSA-PSS is left to @peculiar/x509 and accepted", async () => {
    const { ours, read } = await expectAgreement(derOf((await makeCsr(tmp.dir, { key: "rsa2048", sigopt: ["rsa_padding_mode:pss", "rsa_pss_saltlen:32"] })).pem));
    expect(read).toBe(false);
    expect(ours.accepted).toBe(true);
  });

  it("the asks are read as the reference reads them (CA, keyCertSign, other SAN kinds, a SPIFFE ID in the subject)", async () => {
    const asks = async (shape: Shape) => {
      const { ours } = await expectAgreement(buildCsr(KEYS.p256, shape));
      return ours.accepted ? ours.asks : undefined;
    };
    const request = (...extensions: Buffer[]) => ({ attributes: [extensionRequest(...extensions)] });
    expect((await asks(request(extension("2.5.29.19", true, sequence(DER_TRUE)))))?.ca).toBe(true);
    expect((await asks(request(extension("2.5.29.19", true, sequence(DER_TRUE, Buffer.from([0x02, 0x01, 0x00]))))))?.ca).toBe(true);
    const keyUsage = (...bytes: number[]) => request(extension("2.5.29.15", true, Buffer.from(bytes)));
    expect((await asks(keyUsage(0x03, 0x02, 0x02, 0x84)))?.certificateSigning).toBe(true);
    expect((await asks(keyUsage(0x03, 0x02, 0x01, 0x02)))?.certificateSigning).toBe(true);
    expect((await asks(keyUsage(0x03, 0x02, 0x02, 0x02)))?.certificateSigning).toBe(false); // bit 6 among the unused bits
    expect((await asks(keyUsage(0x03, 0x03, 0x07, 0x80, 0x80)))?.certificateSigning).toBe(false);
    expect((await asks(request(extension("2.5.29.17", false, sequence(ia5("ops@example.com", 0x81))))))?.otherNames).toEqual(["email"]);
    expect((await asks({ subject: sequence(rdn("2.5.4.11", utf8("SPIFFE://svid.test/x"))) }))?.spiffeIdInSubject).toBe(true);
    expect((await asks({ subject: sequence(rdn("2.5.4.3", utf8("a")), rdn("2.5.4.3", printable("b"))) }))?.commonNames).toEqual(["a", "b"]);
  });
});

describe("CSRs that must be refused", () => {
  const good = buildCsr(KEYS.p256, FULL);
  const [info, algorithm, signature] = childrenOf(good, readWhole(good)).map((element) => bytesOf(good, element)) as [Buffer, Buffer, Buffer];

  it("a tampered signature, a tampered subject, a signature by another key", async () => {
    const flipped = Buffer.from(good);
    flipped[flipped.length - 5] = (flipped[flipped.length - 5] ?? 0) ^ 0x01;
    const subject = Buffer.from(good.toString("latin1").replace("SPIFFE", "SPIFFF"), "latin1");
    const otherKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    for (const der of [flipped, subject, sequence(info, algorithm, bitString(sign("sha256", info, otherKey)))]) {
      const { ours, read } = await expectAgreement(der);
      expect(read).toBe(true);
      expect(ours).toMatchObject({ accepted: false, description: expect.stringMatching(/signature does not verify/) });
    }
  });

  it("a key swapped into a CSR signed by another (the signature covers the key)", async () => {
    const other = createPublicKey(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey).export({ format: "der", type: "spki" });
    const { ours } = await expectAgreement(signed(infoOf(KEYS.p256, { ...FULL, spki: other }), KEYS.p256, "es256"));
    expect(ours.accepted).toBe(false);
  });

  it("ECDSA signatures that are not DER (RFC 5480 §2.2): a padded INTEGER, bytes after the SEQUENCE, raw r||s", async () => {
    const der = sign("sha256", info, KEYS.p256);
    const raw = sign("sha256", info, { key: KEYS.p256, dsaEncoding: "ieee-p1363" });
    const [r, s] = childrenOf(der, readWhole(der)).map((element) => bytesOf(der, element)) as [Buffer, Buffer];
    const padded = sequence(tlv(0x02, Buffer.from([0]), r.subarray(2)), s);
    for (const value of [padded, Buffer.concat([der, Buffer.from([0])]), raw]) {
      const { ours } = await expectAgreement(sequence(info, algorithm, bitString(value)));
      expect(ours.accepted).toBe(false);
    }
    expect(signature.equals(bitString(sign("sha256", info, KEYS.p256)))).toBe(false); // ECDSA is randomised: the fixtures are not replays
  });

  it("a signature algorithm of another key type, and SHA-1", async () => {
    const rsa = await expectAgreement(sequence(info, ALGORITHM.rs256, bitString(sign("sha256", info, KEYS.p256))));
    expect(rsa.ours).toMatchObject({ accepted: false, description: expect.stringMatching(/does not match its key/) });
    const sha1 = await expectAgreement(sequence(info, sequence(oid("1.2.840.10045.4.1")), bitString(sign("sha1", info, KEYS.p256))));
    expect(sha1.ours).toMatchObject({ accepted: false, description: expect.stringMatching(/SHA-256, SHA-384 or SHA-512/) });
  });

  it("EC points off the curve, or with a coordinate not below p, are refused by the coordinate import as by the DER one", () => {
    const spki = createPublicKey(KEYS.p256).export({ format: "der", type: "spki" });
    const off = Buffer.from(spki);
    off[off.length - 1] = (off[off.length - 1] ?? 0) ^ 0x01;
    const big = Buffer.from(spki);
    big.fill(0xff, spki.length - 64, spki.length - 32); // x = 2^256 - 1 > p
    for (const key of [off, big]) {
      const point = ecPointOf(key);
      expect(point).toBeDefined();
      expect(() => createPublicKey({ key: { kty: "EC", ...point }, format: "jwk" })).toThrow();
      expect(() => createPublicKey({ key, format: "der", type: "spki" })).toThrow();
      expect(judge(signed(infoOf(KEYS.p256, { spki: key }), KEYS.p256, "es256")).ours).toMatchObject({ accepted: false, description: expect.stringMatching(/key type is not supported/) });
    }
  });
});

describe("encodings outside the DER reader's shape go to @peculiar/x509", () => {
  it.each<[string, Shape]>([
    ["another attribute (challengePassword)", { attributes: [sequence(oid("1.2.840.113549.1.9.7"), setOf(utf8("secret")))] }],
    ["a non-ASCII subject", { subject: sequence(rdn("2.5.4.3", utf8("lédger"))) }],
    ["a critical flag written FALSE", { attributes: [extensionRequest(sequence(oid("2.5.29.19"), Buffer.from([0x01, 0x01, 0x00]), octetString(sequence())))] }],
    ["an extension the reader does not know", { attributes: [extensionRequest(extension("2.5.29.32", false, sequence(sequence(oid("2.5.29.32.0")))))] }],
    ["version 1", { version: Buffer.from([0x02, 0x01, 0x01]) }],
    ["a compressed EC point", { spki: createPublicKey(KEYS.p256).export({ format: "der", type: "spki" }) }],
  ])("%s", async (name, shape) => {
    const spki = shape.spki === undefined ? undefined : compressed(shape.spki);
    const { ours, read } = await expectAgreement(buildCsr(KEYS.p256, { ...shape, ...(spki === undefined ? {} : { spki }) }));
    expect(read).toBe(false);
    if (!name.startsWith("a compressed")) expect(ours.accepted).toBe(true);
  });

  it("an ECDSA AlgorithmIdentifier with NULL parameters", async () => {
    const info = infoOf(KEYS.p256, FULL);
    const { ours, read } = await expectAgreement(sequence(info, sequence(oid("1.2.840.10045.4.3.2"), DER_NULL), bitString(sign("sha256", info, KEYS.p256))));
    expect(read).toBe(false);
    expect(ours.accepted).toBe(true);
  });
});

/** The same P-256 key in its compressed SubjectPublicKeyInfo (RFC 5480 §2.2 allows it). */
function compressed(spki: Buffer): Buffer {
  const point = spki.subarray(spki.length - 64);
  const prefix = ((point[63] ?? 0) & 1) === 1 ? 0x03 : 0x02;
  return sequence(sequence(oid("1.2.840.10045.2.1"), oid("1.2.840.10045.3.1.7")), bitString(Buffer.concat([Buffer.from([prefix]), point.subarray(0, 32)])));
}

describe("byte-by-byte mutations", () => {
  const MASKS = [0x01, 0x80, 0xff];

  // RSA signing is slower: one mask for the RSA request (its extensions are the P-256 one's).
  it.each<[string, KeyObject, readonly number[]]>([
    ["P-256", KEYS.p256, MASKS],
    ["RSA-2048", KEYS.rsa2048, [0x01]],
  ])("of a %s CSR's certificationRequestInfo, re-signed: the readings agree", async (_name, key, masks) => {
    const info = infoOf(key, FULL);
    const algorithm = key.asymmetricKeyType === "rsa" ? "rs256" : "es256";
    let read = 0;
    for (let index = 0; index < info.length; index++) {
      for (const mask of masks) {
        const mutated = Buffer.from(info);
        mutated[index] = (mutated[index] ?? 0) ^ mask;
        if ((await expectAgreement(signed(mutated, key, algorithm))).read) read++;
      }
    }
    expect(read).toBeGreaterThan(0);
  });

  it("of a whole P-256 CSR (outer structure, algorithm, signature): the readings agree", async () => {
    const der = buildCsr(KEYS.p256, FULL);
    for (let index = 0; index < der.length; index++) {
      for (const mask of MASKS) {
        const mutated = Buffer.from(der);
        mutated[index] = (mutated[index] ?? 0) ^ mask;
        await expectAgreement(mutated);
      }
    }
  });
});
