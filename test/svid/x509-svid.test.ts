/**
 * X.509-SVID issuance against the X509-SVID spec, checked by verifiers independent of the code
 * that built the certificate: `openssl verify` against the bundle, `openssl x509 -text`, and
 * node:crypto's X509Certificate.
 */
import { X509Certificate, createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLOCK_SKEW_SECONDS } from "../../src/credentials/x509/svid-template.js";
import { x509 } from "../../src/credentials/x509/x509.js";
import type { SvidAuditEvent } from "../../src/audit/audit-event.js";
import { sha256Hex } from "../../src/lib/hash.js";
import { createIssueX509Svid } from "../../src/svid/issue-x509-svid.js";
import { subject } from "../support/policy.js";
import { FixedVerifier, makeCsr, openssl, refusal, scratch, svidHarness, TRUST_DOMAIN, type SvidHarness } from "../support/svid-harness.js";

const LEDGER_ID = `spiffe://${TRUST_DOMAIN}/ns/payments/sa/ledger`;
const BILLING_ID = `spiffe://${TRUST_DOMAIN}/ns/payments/sa/billing`;

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

function leafOf(chainPem: string): X509Certificate {
  const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(chainPem)?.[0];
  if (first === undefined) throw new Error("no certificate in chain");
  return new X509Certificate(first);
}

describe("an issued X.509-SVID", () => {
  let issued: Awaited<ReturnType<SvidHarness["request"]>>;
  let csr: Awaited<ReturnType<typeof makeCsr>>;
  let text: string;

  beforeAll(async () => {
    csr = await makeCsr(tmp.dir, { name: "ledger" });
    issued = await h.request("ledger", csr.pem);
    await tmp.write("ledger-svid.pem", issued.chainPem);
    await tmp.write("bundle.pem", issued.bundlePem);
    text = (await openssl(["x509", "-in", "ledger-svid.pem", "-noout", "-text"], tmp.dir)).stdout;
  });

  it("verifies with openssl against the bundle, for TLS clients and servers", async () => {
    for (const purpose of ["sslclient", "sslserver"]) {
      const result = await openssl(["verify", "-CAfile", "bundle.pem", "-purpose", purpose, "ledger-svid.pem"], tmp.dir);
      expect(result.stdout + result.stderr).toContain("ledger-svid.pem: OK");
      expect(result.code).toBe(0);
    }
  });

  it("answers the SPIFFE ID, the chain (leaf only under a root CA), the bundle, expiry and serial", () => {
    expect(issued.spiffeId).toBe(LEDGER_ID);
    expect(issued.chainPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(1);
    expect(issued.bundlePem).toBe(`${h.ca.roots[0]?.toString("pem")}\n`);
    const leaf = leafOf(issued.chainPem);
    expect(leaf.serialNumber.toLowerCase()).toBe(issued.serial);
    expect(Math.floor(new Date(leaf.validTo).getTime() / 1000)).toBe(issued.expiresAt);
  });

  it("X509-SVID §2: exactly one URI SAN, the granted SPIFFE ID, plus only the granted DNS names", () => {
    const leaf = leafOf(issued.chainPem);
    const sans = (leaf.subjectAltName ?? "").split(", ");
    expect(sans.filter((entry) => entry.startsWith("URI:"))).toEqual([`URI:${LEDGER_ID}`]);
    expect(sans.filter((entry) => entry.startsWith("DNS:")).sort()).toEqual(["DNS:ledger.example.com", "DNS:ledger.payments.svc"]);
    expect(sans).toHaveLength(3);
    expect(text).toContain(`URI:${LEDGER_ID}`);
  });

  it("X509-SVID §4.1: a leaf, basicConstraints CA:FALSE and critical", () => {
    expect(leafOf(issued.chainPem).ca).toBe(false);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
  });

  it("X509-SVID §4.3: keyUsage critical with digitalSignature, never keyCertSign or cRLSign", () => {
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature\n/);
    expect(text).not.toMatch(/Certificate Sign|CRL Sign/);
  });

  it("X509-SVID §4.4: EKU serverAuth and clientAuth", () => {
    expect(leafOf(issued.chainPem).keyUsage?.sort()).toEqual(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
    expect(text).toContain("TLS Web Server Authentication, TLS Web Client Authentication");
  });

  it("X509-SVID §5: signed by the CA, and the CSR's public key is the certificate's", () => {
    const leaf = leafOf(issued.chainPem);
    const root = new X509Certificate(issued.bundlePem);
    expect(leaf.checkIssued(root)).toBe(true);
    expect(leaf.verify(root.publicKey)).toBe(true);
    const csrKey = createPublicKey(readFileSync(csr.keyPath, "utf8"));
    expect(leaf.publicKey.export({ format: "der", type: "spki" }).equals(csrKey.export({ format: "der", type: "spki" }))).toBe(true);
  });

  it("a random positive serial of at least 128 bits; subject and authority key identifiers", () => {
    const serial = Buffer.from(issued.serial, "hex");
    expect(serial.length * 8).toBeGreaterThanOrEqual(128);
    expect((serial[0] ?? 0) & 0x80).toBe(0);
    expect(text).toContain("X509v3 Subject Key Identifier");
    const aki = /X509v3 Authority Key Identifier:\s*\n\s*(?:keyid:)?([0-9A-F:]+)/.exec(text)?.[1];
    const caSki = h.ca.certificate.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
    expect(aki?.replaceAll(":", "").toLowerCase()).toBe(caSki);
  });

  it("valid for minutes: backdated for skew, policy maximum (30m) under the cap, never past the CA", () => {
    const leaf = leafOf(issued.chainPem);
    const now = h.clock.now() / 1000;
    expect(new Date(leaf.validFrom).getTime() / 1000).toBe(now - CLOCK_SKEW_SECONDS);
    expect(new Date(leaf.validTo).getTime() / 1000).toBe(now + 1800);
    expect(new Date(leaf.validTo).getTime() / 1000).toBeLessThanOrEqual(h.ca.notAfter);
  });

  it("each issuance gets its own serial", async () => {
    const again = await h.request("ledger", csr.pem);
    expect(again.serial).not.toBe(issued.serial);
  });

  it("one audit record per issuance: serial, SPIFFE ID, SHA-256 of CSR and token, never their text", () => {
    const records = h.audit.filter((event): event is SvidAuditEvent => event.event === "svid_issuance" && event.serial === issued.serial);
    expect(records).toHaveLength(1);
    const record = records[0] as SvidAuditEvent;
    expect(record).toMatchObject({ decision: "allow", spiffeId: LEDGER_ID, workloadId: "k8s/payments/ledger", policy: "ledger", csrSha256: sha256Hex(csr.pem), subjectTokenSha256: sha256Hex("ledger") });
    expect(JSON.stringify(record)).not.toContain("CERTIFICATE REQUEST");
  });
});

describe("key types", () => {
  it("P-384 is accepted", async () => {
    const issued = await h.request("billing", (await makeCsr(tmp.dir, { key: "p384" })).pem);
    expect(leafOf(issued.chainPem).publicKey.asymmetricKeyDetails?.namedCurve).toBe("secp384r1");
  });

  it("RSA 2048 is accepted, with keyEncipherment as the spec allows", async () => {
    const issued = await h.request("billing", (await makeCsr(tmp.dir, { key: "rsa2048" })).pem);
    await tmp.write("rsa.pem", issued.chainPem);
    const text = (await openssl(["x509", "-in", "rsa.pem", "-noout", "-text"], tmp.dir)).stdout;
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment\n/);
    expect(issued.spiffeId).toBe(BILLING_ID);
  });
});

describe("lifetime caps", () => {
  it("the global SVID cap lowers the policy maximum", async () => {
    const capped = await svidHarness({ maxLifetimeSeconds: 120 });
    try {
      const issued = await capped.request("ledger", (await makeCsr(tmp.dir)).pem);
      expect(issued.expiresAt).toBe(capped.clock.now() / 1000 + 120);
    } finally {
      await capped.close();
    }
  });

  it("an SVID never outlives its CA", async () => {
    const shortCa = { ...h.ca, notAfter: h.clock.now() / 1000 + 90 };
    const capped = await svidHarness({ ca: shortCa });
    try {
      const issued = await capped.request("ledger", (await makeCsr(tmp.dir)).pem);
      expect(issued.expiresAt).toBe(shortCa.notAfter);
    } finally {
      await capped.close();
    }
  });
});

describe("authorization is /token's", () => {
  it("an identity no policy grants x509_svid is refused (token type not granted)", async () => {
    const error = await refusal(h.request("tokens-only", (await makeCsr(tmp.dir)).pem));
    expect(error.code).toBe("invalid_request");
    expect(error.description).toMatch(/not granted/);
  });

  it("an identity no policy matches is unauthorized_client; a bad token is invalid_request", async () => {
    expect((await refusal(h.request("stranger", (await makeCsr(tmp.dir)).pem))).code).toBe("unauthorized_client");
    expect((await refusal(h.request("forged", (await makeCsr(tmp.dir)).pem))).code).toBe("invalid_request");
  });

  it("a blocked workload gets no SVID", async () => {
    const now = h.clock.now() / 1000;
    await h.store.blockWorkload({ workloadId: "k8s/payments/billing", until: now + 60, actor: "op", reason: "test", at: now });
    const error = await refusal(h.request("billing", (await makeCsr(tmp.dir)).pem));
    expect(error.code).toBe("unauthorized_client");
    await h.store.unblockWorkload("k8s/payments/billing");
  });

  it("a subject token bound to a key (RFC 7800 cnf) is refused: /svid/x509 takes no DPoP proof to prove it", async () => {
    const boundLedger = subject({ subject: "ledger" }, { sub: "ledger", cnf: { jkt: "A".repeat(43) } });
    const issue = createIssueX509Svid({
      verifier: new FixedVerifier({ ledger: boundLedger }),
      policies: () => h.policies,
      revocations: h.store,
      ca: h.cas,
      audit: { record: (event) => h.audit.push(event) },
      clock: h.clock,
      maxLifetimeSeconds: 3600,
    });
    const error = await refusal(issue({ subjectToken: "ledger", csrPem: (await makeCsr(tmp.dir)).pem, requestId: "bound", clientAddress: "10.0.0.1" }));
    expect(error.code).toBe("invalid_request");
    expect(error.description).toBe("subject_token is bound to a DPoP key (cnf jkt), and this endpoint takes no DPoP proof");
  });

  it("every refusal is audited as a denial", () => {
    const denials = h.audit.filter((event) => event.event === "svid_issuance" && event.decision === "deny");
    expect(denials.length).toBeGreaterThanOrEqual(4);
  });
});
