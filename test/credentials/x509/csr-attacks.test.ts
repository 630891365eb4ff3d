/**
 * CSRs asking for more than the grant, or that are not what they claim: each is refused with
 * invalid_request and a reason that names the problem, and nothing is issued or recorded.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_CSR_CHARS } from "../../../src/credentials/x509/csr.js";
import { bytesOf, childrenOf, readWhole } from "../../../src/credentials/x509/der-reader.js";
import { DER_NULL, oid, sequence } from "../../../src/credentials/x509/der-writer.js";
import { makeCsr, refusal, scratch, svidHarness, TRUST_DOMAIN, type SvidHarness } from "../../support/svid-harness.js";

const LEDGER_ID = `spiffe://${TRUST_DOMAIN}/ns/payments/sa/ledger`;

let h: SvidHarness;
let tmp: Awaited<ReturnType<typeof scratch>>;
beforeAll(async () => {
  h = await svidHarness();
  tmp = await scratch();
});
afterAll(async () => {
  await h?.close();
  await tmp?.close();
});

async function refused(csrPem: string, reason: RegExp): Promise<void> {
  const error = await refusal(h.request("ledger", csrPem));
  expect(error.code).toBe("invalid_request");
  expect(error.reason).toBeUndefined(); // answered with the code's status: 400
  expect(error.description).toMatch(/^csr /);
  expect(error.description).toMatch(reason);
}

/** Re-wraps DER as PEM. */
function pemOf(der: Buffer): string {
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64").match(/.{1,64}/g)?.join("\n")}\n-----END CERTIFICATE REQUEST-----\n`;
}

function derOf(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64");
}

describe("what the CSR asks for, beyond the grant", () => {
  it("accepts a CSR that asks for exactly the granted SPIFFE ID and DNS names, and a granted CN", async () => {
    const csr = await makeCsr(tmp.dir, { subject: "/CN=ledger.payments.svc", addext: [`subjectAltName=URI:${LEDGER_ID},DNS:ledger.example.com`] });
    expect((await h.request("ledger", csr.pem)).spiffeId).toBe(LEDGER_ID);
  });

  it("a CA certificate (basicConstraints CA:TRUE)", async () => {
    await refused((await makeCsr(tmp.dir, { addext: ["basicConstraints=critical,CA:TRUE"] })).pem, /CA certificate/);
  });

  it("certificate or CRL signing key usage", async () => {
    await refused((await makeCsr(tmp.dir, { addext: ["keyUsage=critical,digitalSignature,keyCertSign"] })).pem, /keyCertSign/);
    await refused((await makeCsr(tmp.dir, { addext: ["keyUsage=cRLSign"] })).pem, /keyCertSign or cRLSign/);
  });

  it("another SPIFFE ID, or a second URI SAN beside the granted one", async () => {
    await refused((await makeCsr(tmp.dir, { addext: [`subjectAltName=URI:spiffe://${TRUST_DOMAIN}/ns/kube-system/sa/admin`] })).pem, /URI SAN/);
    await refused((await makeCsr(tmp.dir, { addext: [`subjectAltName=URI:${LEDGER_ID},URI:https://evil.example.com`] })).pem, /URI SAN/);
  });

  it("a DNS name the grant does not list", async () => {
    await refused((await makeCsr(tmp.dir, { addext: ["subjectAltName=DNS:ledger.example.com,DNS:www.bank.example"] })).pem, /DNS names that are not granted/);
  });

  it("email, IP and directory-name SANs", async () => {
    await refused((await makeCsr(tmp.dir, { addext: ["subjectAltName=email:ops@example.com"] })).pem, /SAN kinds .*email/);
    await refused((await makeCsr(tmp.dir, { addext: ["subjectAltName=IP:10.0.0.1"] })).pem, /SAN kinds .*ip/);
  });

  it("a SPIFFE ID in the subject, and a CN that is not a granted DNS name", async () => {
    await refused((await makeCsr(tmp.dir, { subject: `/CN=${LEDGER_ID.replaceAll("/", "\\/")}` })).pem, /SPIFFE ID in its subject/);
    await refused((await makeCsr(tmp.dir, { subject: "/O=x/OU=spiffe:\\/\\/other.example\\/x" })).pem, /SPIFFE ID in its subject/);
    await refused((await makeCsr(tmp.dir, { subject: "/CN=www.bank.example" })).pem, /common name/);
  });
});

describe("signature schemes", () => {
  it("accepts RSA-PSS (SHA-256, MGF1-SHA-256, salt 32) as well as PKCS#1 v1.5 and ECDSA", async () => {
    const csr = await makeCsr(tmp.dir, { key: "rsa2048", sigopt: ["rsa_padding_mode:pss", "rsa_pss_saltlen:32"] });
    expect((await h.request("ledger", csr.pem)).spiffeId).toBe(LEDGER_ID);
  });

  it("refuses a signature algorithm of another key type (an EC key, an RSA signature algorithm)", async () => {
    const der = derOf((await makeCsr(tmp.dir)).pem);
    const [info, , signature] = childrenOf(der, readWhole(der));
    if (info === undefined || signature === undefined) throw new Error("CSR layout");
    const rsaSha256 = sequence(oid("1.2.840.113549.1.1.11"), DER_NULL);
    await refused(pemOf(sequence(bytesOf(der, info), rsaSha256, bytesOf(der, signature))), /signature algorithm does not match its key/);
  });

  it("refuses bytes after the request", async () => {
    const der = derOf((await makeCsr(tmp.dir)).pem);
    await refused(pemOf(Buffer.concat([der, Buffer.from([0x05, 0x00])])), /not a valid PKCS#10/);
  });
});

describe("keys the broker does not certify", () => {
  it("RSA 1024 (weak)", async () => {
    await refused((await makeCsr(tmp.dir, { key: "rsa1024" })).pem, /RSA keys must have 2048/);
  });

  it("secp256k1 (unsupported curve)", async () => {
    await refused((await makeCsr(tmp.dir, { key: "secp256k1" })).pem, /P-256 or P-384/);
  });

  it("Ed25519 (not among the key types every SVID consumer verifies)", async () => {
    await refused((await makeCsr(tmp.dir, { key: "ed25519" })).pem, /key type is not supported/);
  });
});

describe("proof of possession and malformed input", () => {
  it("a signature that does not verify (one bit of the signature flipped)", async () => {
    const der = derOf((await makeCsr(tmp.dir)).pem);
    der[der.length - 1] = (der[der.length - 1] ?? 0) ^ 0x01;
    await refused(pemOf(der), /signature does not verify|signature cannot be verified/);
  });

  it("a public key swapped for another (signature no longer matches the key)", async () => {
    const a = derOf((await makeCsr(tmp.dir)).pem);
    const b = derOf((await makeCsr(tmp.dir)).pem);
    // Both are P-256 CSRs with an empty subject: same layout, so the key's 65 bytes sit at the same offset.
    const point = (der: Buffer) => der.indexOf(Buffer.from([0x03, 0x42, 0x00, 0x04])) + 3;
    const swapped = Buffer.from(a);
    b.copy(swapped, point(a), point(b), point(b) + 65);
    await refused(pemOf(swapped), /signature does not verify/);
  });

  it("oversized, before any parsing", async () => {
    await refused(`-----BEGIN CERTIFICATE REQUEST-----\n${"A".repeat(MAX_CSR_CHARS)}\n-----END CERTIFICATE REQUEST-----\n`, /larger than/);
  });

  it.each([
    ["empty-ish", " "],
    ["not PEM", "hello"],
    ["a certificate instead of a CSR", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"],
    ["two CSRs in one", "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"],
    ["mismatched labels", "-----BEGIN NEW CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"],
    ["bad base64", "-----BEGIN CERTIFICATE REQUEST-----\nMI*B\n-----END CERTIFICATE REQUEST-----\n"],
    ["non-canonical base64", "-----BEGIN CERTIFICATE REQUEST-----\nMIIB=\n-----END CERTIFICATE REQUEST-----\n"],
  ])("malformed PEM: %s", async (_name, pem) => {
    await refused(pem, /PEM|base64/);
  });

  it.each([
    ["random bytes", Buffer.from("not asn.1 at all, just some bytes")],
    ["truncated DER", Buffer.from([0x30, 0x82, 0x01, 0x00, 0x30])],
    ["an empty SEQUENCE", Buffer.from([0x30, 0x00])],
    ["deeply nested SEQUENCEs", Buffer.concat([...Array.from({ length: 1000 }, () => Buffer.from([0x30, 0x80])), Buffer.alloc(1000)])],
  ])("malformed DER: %s", async (_name, der) => {
    await refused(pemOf(der), /not a valid PKCS#10|larger than|key type|signature/);
  });

  it("a truncated real CSR", async () => {
    const der = derOf((await makeCsr(tmp.dir)).pem);
    await refused(pemOf(der.subarray(0, der.length - 20)), /not a valid PKCS#10/);
  });

  it("nothing was recorded for any refused CSR, and issuance still works afterwards", async () => {
    const csr = await makeCsr(tmp.dir);
    expect((await h.request("ledger", csr.pem)).spiffeId).toBe(LEDGER_ID);
    const allowed = h.audit.filter((event) => event.event === "svid_issuance" && event.decision === "allow");
    // The accepted CSR at the top, the RSA-PSS one and this one.
    expect(allowed).toHaveLength(3);
  });
});
