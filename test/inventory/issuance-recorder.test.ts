import { describe, expect, it } from "vitest";
import type { InventoryStore, IssuanceRecord } from "../../src/inventory/inventory-store.js";
import { createIssuanceRecorder, type InventoryWriteOutcome } from "../../src/inventory/issuance-recorder.js";

const ISSUED: IssuanceRecord = { workloadId: "wl", policyId: "p", issuer: "i", tokenType: "access_token", audiences: [], scopes: [], issuedAtMs: 0, expiresAt: 60 };

/** A store whose every record() does `write`: the rest of the port is never called here. */
function storeWith(write: () => Promise<void>): InventoryStore {
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

  it("drops (and counts) writes past maxInFlight while the store hangs, and takes writes again once it answers", async () => {
    const outcomes: InventoryWriteOutcome[] = [];
    const pending: (() => void)[] = [];
    const record = createIssuanceRecorder(storeWith(() => new Promise<void>((resolve) => pending.push(resolve))), { maxInFlight: 2, onOutcome: (outcome) => outcomes.push(outcome) });
    for (let index = 0; index < 5; index++) record(ISSUED);
    // Nothing reaches the store in the caller's turn: the writes start on the next one.
    expect(pending).toHaveLength(0);
    await settle();
    expect(pending).toHaveLength(2);
    expect(outcomes).toEqual(["dropped", "dropped", "dropped"]);
    for (const resolve of pending.splice(0)) resolve();
    await settle();
    record(ISSUED);
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
