import { describe, expect, it } from "vitest";
import type { InventoryStore, IssuanceRecord } from "../../src/inventory/inventory-store.js";
import { createIssuanceRecorder, type InventoryWriteOutcome } from "../../src/inventory/issuance-recorder.js";

const ISSUED: IssuanceRecord = { workloadId: "wl", policyId: "p", issuer: "i", tokenType: "access_token", audiences: [], scopes: [], issuedAtMs: 0, expiresAt: 60 };

/** A store whose every record() does `write`: the rest of the port is never called here. */
function storeWith(write: (issuance: IssuanceRecord) => Promise<void>): InventoryStore {
  const unused = () => Promise.reject(new Error("not used"));
  return { kind: "memory", record: write, workloadIds: unused, usage: unused, policyUsage: unused };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("createIssuanceRecorder", () => {
  it("returns at once and counts ok, failed (rejected or thrown) without throwing to the caller", async () => {
    const outcomes: InventoryWriteOutcome[] = [];
    const onOutcome = (outcome: InventoryWriteOutcome) => outcomes.push(outcome);
    createIssuanceRecorder(storeWith(async () => undefined), { maxInFlight: 10, onOutcome })(ISSUED);
    createIssuanceRecorder(storeWith(() => Promise.reject(new Error("redis down"))), { maxInFlight: 10, onOutcome })(ISSUED);
    const throwing = () => {
      throw new Error("thrown before any promise");
    };
    expect(() => createIssuanceRecorder(storeWith(throwing), { maxInFlight: 10, onOutcome })(ISSUED)).not.toThrow();
    await settle();
    expect(outcomes.sort()).toEqual(["failed", "failed", "ok"]);
  });

  it("sums the issuances of one kind into one write, counting each; another workload, hour or expiry minute is another record", async () => {
    const writes: IssuanceRecord[] = [];
    const outcomes: InventoryWriteOutcome[] = [];
    const record = createIssuanceRecorder(storeWith(async (issuance) => void writes.push(issuance)), { maxInFlight: 10, onOutcome: (outcome) => outcomes.push(outcome) });
    record({ ...ISSUED, issuedAtMs: 1_000 });
    record({ ...ISSUED, issuedAtMs: 3_000, expiresAt: 62 });
    record({ ...ISSUED, issuedAtMs: 2_000 });
    record({ ...ISSUED, workloadId: "other" });
    record({ ...ISSUED, expiresAt: 120 });
    record({ ...ISSUED, issuedAtMs: 3_600_000 });
    await settle();
    expect(writes).toEqual([
      { ...ISSUED, issuedAtMs: 3_000, expiresAt: 62, count: 3, firstIssuedAtMs: 1_000 },
      { ...ISSUED, workloadId: "other", count: 1, firstIssuedAtMs: 0 },
      { ...ISSUED, expiresAt: 120, count: 1, firstIssuedAtMs: 0 },
      { ...ISSUED, issuedAtMs: 3_600_000, count: 1, firstIssuedAtMs: 3_600_000 },
    ]);
    expect(outcomes).toEqual(["ok", "ok", "ok", "ok", "ok", "ok"]);
  });

  it("with coalesceMs, waits that long, so a busy workload is one write for all its issuances", async () => {
    const writes: IssuanceRecord[] = [];
    const record = createIssuanceRecorder(storeWith(async (issuance) => void writes.push(issuance)), { maxInFlight: 10, coalesceMs: 50 });
    for (let index = 0; index < 100; index++) record(ISSUED);
    await settle();
    expect(writes).toHaveLength(0);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(writes).toEqual([{ ...ISSUED, count: 100, firstIssuedAtMs: 0 }]);
  });

  it("drain() writes what is pending at once and waits for the writes under way (at shutdown)", async () => {
    const writes: IssuanceRecord[] = [];
    let release: () => void = () => undefined;
    const slow = new Promise<void>((resolve) => (release = resolve));
    const record = createIssuanceRecorder(storeWith(async (issuance) => {
      await slow;
      writes.push(issuance);
    }), { maxInFlight: 10, coalesceMs: 60_000 });
    record(ISSUED);
    record(ISSUED);
    let drained = false;
    const draining = record.drain().then(() => (drained = true));
    await settle();
    expect(drained).toBe(false);
    release();
    await draining;
    expect(writes).toEqual([{ ...ISSUED, count: 2, firstIssuedAtMs: 0 }]);
  });

  it("drops (and counts) issuances needing a new record past maxInFlight while the store hangs; takes them again once it answers", async () => {
    const outcomes: InventoryWriteOutcome[] = [];
    const pending: (() => void)[] = [];
    const record = createIssuanceRecorder(storeWith(() => new Promise<void>((resolve) => pending.push(resolve))), { maxInFlight: 2, onOutcome: (outcome) => outcomes.push(outcome) });
    const workload = (index: number) => ({ ...ISSUED, workloadId: `wl-${index}` });
    for (let index = 0; index < 5; index++) record(workload(index));
    // Nothing reaches the store in the caller's turn: the writes start on the next one.
    expect(pending).toHaveLength(0);
    expect(outcomes).toEqual(["dropped", "dropped", "dropped"]);
    await settle();
    expect(pending).toHaveLength(2);
    record(workload(9));
    expect(outcomes.filter((outcome) => outcome === "dropped")).toHaveLength(4);
    for (const resolve of pending.splice(0)) resolve();
    await settle();
    record(workload(9));
    await settle();
    expect(pending).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome === "ok")).toHaveLength(2);
  });

  it("a counter that throws does not reach the caller either", async () => {
    const record = createIssuanceRecorder(storeWith(async () => undefined), {
      maxInFlight: 0,
      onOutcome: () => {
        throw new Error("metrics broken");
      },
    });
    expect(() => record(ISSUED)).not.toThrow();
  });
});
