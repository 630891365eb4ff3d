/**
 * Revocation reaches X.509-SVIDs through the CRL: `openssl verify -crl_check` rejects a revoked
 * SVID and accepts a good one; the CRL lists exactly the revoked serials that have not expired.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AdminAuditEvent } from "../../src/audit/audit-event.js";
import { BrokerError } from "../../src/errors/broker-error.js";
import { createPublishCrl, CRL_REUSE_MS, type PublishCrl } from "../../src/svid/publish-crl.js";
import { createRevokeSvid, normalizeSerial } from "../../src/admin/revoke-svid.js";
import { makeCsr, openssl, scratch, svidHarness, type SvidHarness } from "../support/svid-harness.js";

let h: SvidHarness;
let tmp: Awaited<ReturnType<typeof scratch>>;
let publish: PublishCrl;

beforeAll(async () => {
  h = await svidHarness();
  tmp = await scratch();
  publish = createPublishCrl({ ca: h.cas, revocations: h.store, clock: h.clock, nextUpdateSeconds: 300 });
});
afterAll(async () => {
  await h?.close();
  await tmp?.close();
});

/** Signs a fresh CRL (past the reuse window) and writes it as crl.pem. */
async function writeCrl(): Promise<string> {
  h.clock.advance(CRL_REUSE_MS);
  const der = await publish();
  const pem = `-----BEGIN X509 CRL-----\n${der.toString("base64").match(/.{1,64}/g)?.join("\n")}\n-----END X509 CRL-----\n`;
  await tmp.write("crl.pem", pem);
  return (await openssl(["crl", "-in", "crl.pem", "-noout", "-text"], tmp.dir)).stdout;
}

const verifyWithCrl = (file: string) => openssl(["verify", "-crl_check", "-CAfile", "bundle.pem", "-CRLfile", "crl.pem", file], tmp.dir);

function serialsIn(text: string): string[] {
  return [...text.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((match) => (match[1] ?? "").toLowerCase());
}

describe("the CRL", () => {
  let ledger: Awaited<ReturnType<SvidHarness["request"]>>;
  let billing: Awaited<ReturnType<SvidHarness["request"]>>;

  beforeAll(async () => {
    ledger = await h.request("ledger", (await makeCsr(tmp.dir)).pem);
    billing = await h.request("billing", (await makeCsr(tmp.dir)).pem);
    await tmp.write("ledger.pem", ledger.chainPem);
    await tmp.write("billing.pem", billing.chainPem);
    await tmp.write("bundle.pem", ledger.bundlePem);
  });

  it("is signed by the CA, with a short nextUpdate, and lists nothing while nothing is revoked", async () => {
    const text = await writeCrl();
    expect(serialsIn(text)).toEqual([]);
    const checked = await openssl(["crl", "-in", "crl.pem", "-CAfile", "bundle.pem", "-noout"], tmp.dir);
    expect(checked.stdout + checked.stderr).toMatch(/verify OK/);
    const thisUpdate = Date.parse(/Last Update: (.+)/.exec(text)?.[1] ?? "");
    const nextUpdate = Date.parse(/Next Update: (.+)/.exec(text)?.[1] ?? "");
    expect(nextUpdate - thisUpdate).toBe(300_000);
    expect(text).toMatch(/X509v3 CRL Number/);
    expect(text).toMatch(/X509v3 Authority Key Identifier/);
    expect((await verifyWithCrl("ledger.pem")).code).toBe(0);
  });

  it("revoking a workload puts its SVIDs on the CRL: openssl -crl_check rejects them and accepts the others", async () => {
    const now = h.clock.now() / 1000;
    await h.store.revokeWorkload({ workloadId: "k8s/payments/ledger", revokedAt: now, expiresAt: now + 3600, actor: "op", reason: "compromised", at: now });
    const text = await writeCrl();
    expect(serialsIn(text)).toEqual([ledger.serial]);
    const revoked = await verifyWithCrl("ledger.pem");
    expect(revoked.code).not.toBe(0);
    expect(revoked.stdout + revoked.stderr).toMatch(/certificate revoked/);
    const good = await verifyWithCrl("billing.pem");
    expect(good.code).toBe(0);
    expect(good.stdout).toContain("billing.pem: OK");
  });

  it("an SVID issued to the workload after its revocation is not on the CRL", async () => {
    h.clock.advance(1000);
    const fresh = await h.request("ledger", (await makeCsr(tmp.dir)).pem);
    await tmp.write("fresh.pem", fresh.chainPem);
    const text = await writeCrl();
    expect(serialsIn(text)).toEqual([ledger.serial]);
    expect((await verifyWithCrl("fresh.pem")).code).toBe(0);
  });

  it("an operator revokes one serial (pasted with colons, upper case): on the CRL, audited with the actor", async () => {
    const revokeSvid = createRevokeSvid({ revocations: h.store, audit: { record: (event) => h.audit.push(event) }, clock: h.clock });
    const pasted = billing.serial.toUpperCase().match(/../g)?.join(":") ?? "";
    const record = await revokeSvid({ serial: pasted, reason: "key on a lost laptop" }, { actor: "alice", requestId: "r1", clientAddress: "10.0.0.9" });
    expect(record).toMatchObject({ serial: billing.serial, workloadId: "k8s/payments/billing", revoked: { actor: "alice", reason: "key on a lost laptop" } });
    expect(serialsIn(await writeCrl()).sort()).toEqual([ledger.serial, billing.serial].sort());
    expect((await verifyWithCrl("billing.pem")).stdout + (await verifyWithCrl("billing.pem")).stderr).toMatch(/certificate revoked/);
    const audit = h.audit.filter((event): event is AdminAuditEvent => event.event === "admin" && event.action === "revoke_svid");
    expect(audit).toEqual([expect.objectContaining({ actor: "alice", target: pasted, reason: "key on a lost laptop", outcome: "done" })]);

    const unknown = await revokeSvid({ serial: "0badc0de", reason: "x" }, { actor: "alice", requestId: "r2", clientAddress: "10.0.0.9" }).catch((error: unknown) => error);
    expect(unknown).toBeInstanceOf(BrokerError);
    expect((unknown as BrokerError).code).toBe("not_found");
    const bad = await revokeSvid({ serial: "not hex", reason: "x" }, { actor: "alice", requestId: "r3", clientAddress: "10.0.0.9" }).catch((error: unknown) => error);
    expect((bad as BrokerError).code).toBe("invalid_request");
  });

  it("is reused for a moment, then signed afresh", async () => {
    const first = await publish();
    h.clock.advance(CRL_REUSE_MS - 1);
    expect(await publish()).toBe(first);
    h.clock.advance(1);
    expect(await publish()).not.toBe(first);
  });

  it("revoked SVIDs leave the CRL once they have expired", async () => {
    h.clock.advance(1800 * 1000);
    expect(serialsIn(await writeCrl())).toEqual([]);
  });

  it("a store outage is a 503, never a CRL that leaves revocations out", async () => {
    const failing = createPublishCrl({
      ca: h.cas,
      revocations: { ...h.store, revokedSvids: async () => Promise.reject(new (await import("../../src/revocation/revocation-store.js")).StoreUnavailableError("down")) },
      clock: h.clock,
      nextUpdateSeconds: 300,
    });
    const error = await failing().catch((caught: unknown) => caught);
    expect((error as BrokerError).code).toBe("temporarily_unavailable");
  });
});

describe("normalizeSerial", () => {
  it.each([
    ["7D:43:77", "7d4377"],
    ["00:ab", "ab"],
    ["0", "00"],
    ["abc", "0abc"],
    ["zz", undefined],
    ["", undefined],
  ])("%s → %s", (input, expected) => {
    expect(normalizeSerial(input)).toBe(expected);
  });
});
