import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { InventoryBounds, InventoryStore, IssuanceRecord } from "../../src/inventory/inventory-store.js";
import { ManualClock } from "../../src/lib/clock.js";

/**
 * One inventory implementation under test. `open` gives a store with `bounds` over emptied state;
 * `elapse` lets `ms` pass for the store (the clock, and for Redis, whose keys expire by its own
 * clock, real time too).
 */
export interface InventoryHarness {
  open(clock: ManualClock, bounds: InventoryBounds): Promise<InventoryStore>;
  elapse(clock: ManualClock, ms: number): Promise<void>;
  close(): Promise<void>;
}

const HOUR = 3_600_000;
const WIDE: InventoryBounds = { ttlSeconds: 90 * 86_400, maxWorkloads: 100 };

/** An access token for `workloadId` issued now under `policyId`, living `lifetimeSeconds`. */
function issued(clock: ManualClock, workloadId: string, overrides: Partial<IssuanceRecord> = {}, lifetimeSeconds = 600): IssuanceRecord {
  const now = clock.now();
  return {
    workloadId,
    policyId: "pol-a",
    issuer: "local-dev",
    tokenType: "access_token",
    audiences: ["https://a.example"],
    scopes: ["read"],
    issuedAtMs: now,
    expiresAt: Math.floor(now / 1000) + lifetimeSeconds,
    ...overrides,
  };
}

/** The behaviour every InventoryStore shows, whatever it is built on. */
export function inventoryStoreContract(name: string, harness: () => InventoryHarness): void {
  describe(`InventoryStore contract: ${name}`, () => {
    let clock: ManualClock;

    beforeEach(() => {
      // Near real time, on a minute boundary + 1 s, so minute arithmetic in the tests is exact.
      clock = new ManualClock(Math.floor(Date.now() / 60_000) * 60_000 + 1_000);
    });

    afterEach(async () => {
      await harness().close();
    });

    it("records first and last issuance, the policies and issuer, issuances in the last 24 h and live credentials", async () => {
      const store = await harness().open(clock, WIDE);
      const first = clock.now();
      await store.record(issued(clock, "wl-a"));
      clock.advance(2 * 60_000);
      await store.record(issued(clock, "wl-a", { policyId: "pol-b", issuer: "github" }));
      // A re-exchange: no policy, no issuer; it still counts and keeps what was known.
      await store.record(issued(clock, "wl-a", { policyId: undefined, issuer: undefined }));
      const [usage, unknown] = await store.usage(["wl-a", "wl-never"]);
      expect(unknown).toBeUndefined();
      expect(usage).toEqual({
        workloadId: "wl-a",
        firstIssuedAtMs: first,
        lastIssuedAtMs: clock.now(),
        policies: ["pol-a", "pol-b"],
        issuer: "github",
        issuedLast24h: 3,
        liveNow: 3,
      });
    });

    it("a record standing for several issuances counts each, from the first of them", async () => {
      const store = await harness().open(clock, WIDE);
      const first = clock.now();
      clock.advance(900);
      await store.record({ ...issued(clock, "wl-a"), count: 3, firstIssuedAtMs: first });
      expect((await store.usage(["wl-a"]))[0]).toMatchObject({ firstIssuedAtMs: first, lastIssuedAtMs: clock.now(), issuedLast24h: 3, liveNow: 3 });
    });

    it("live credentials drop once their expiry minute has passed; the 24 h count forgets older hours", async () => {
      const store = await harness().open(clock, WIDE);
      await store.record(issued(clock, "wl-a", {}, 60));
      await store.record(issued(clock, "wl-a", {}, 600));
      clock.advance(2 * 60_000);
      expect((await store.usage(["wl-a"]))[0]).toMatchObject({ issuedLast24h: 2, liveNow: 1 });
      clock.advance(10 * 60_000);
      expect((await store.usage(["wl-a"]))[0]).toMatchObject({ issuedLast24h: 2, liveNow: 0 });
      clock.advance(26 * HOUR);
      await store.record(issued(clock, "wl-a"));
      expect((await store.usage(["wl-a"]))[0]).toMatchObject({ issuedLast24h: 1, liveNow: 1 });
    });

    it("lists workloads most recently issued first, in pages, and only the stale ones when asked", async () => {
      const store = await harness().open(clock, WIDE);
      for (const id of ["wl-1", "wl-2", "wl-3", "wl-4"]) {
        await store.record(issued(clock, id));
        clock.advance(HOUR);
      }
      await store.record(issued(clock, "wl-1"));
      expect(await store.workloadIds({ offset: 0, limit: 10 })).toEqual(["wl-1", "wl-4", "wl-3", "wl-2"]);
      expect(await store.workloadIds({ offset: 1, limit: 2 })).toEqual(["wl-4", "wl-3"]);
      const cutoff = clock.now() - 2 * HOUR + 1;
      expect(await store.workloadIds({ offset: 0, limit: 10, lastBeforeMs: cutoff })).toEqual(["wl-3", "wl-2"]);
      expect(await store.workloadIds({ offset: 0, limit: 10, lastBeforeMs: cutoff - 10 * HOUR })).toEqual([]);
    });

    it("keeps at most maxWorkloads in the index: the least recently issued is dropped", async () => {
      const store = await harness().open(clock, { ttlSeconds: 86_400, maxWorkloads: 3 });
      for (const id of ["wl-1", "wl-2", "wl-3", "wl-4", "wl-5"]) {
        await store.record(issued(clock, id));
        clock.advance(1_000);
      }
      expect(await store.workloadIds({ offset: 0, limit: 10 })).toEqual(["wl-5", "wl-4", "wl-3"]);
      // The dropped workloads' records go too: memory stays within the cap, not only the listing.
      expect(await store.usage(["wl-1", "wl-2", "wl-3"])).toEqual([undefined, undefined, expect.objectContaining({ workloadId: "wl-3" })]);
    });

    it("forgets a workload seen once after the TTL; one issued again stays", async () => {
      const store = await harness().open(clock, { ttlSeconds: 1, maxWorkloads: 100 });
      await store.record(issued(clock, "wl-once"));
      await store.record(issued(clock, "wl-busy"));
      await harness().elapse(clock, 600);
      await store.record(issued(clock, "wl-busy"));
      await harness().elapse(clock, 700);
      expect(await store.usage(["wl-once"])).toEqual([undefined]);
      expect(await store.workloadIds({ offset: 0, limit: 10 })).toEqual(["wl-busy"]);
      expect((await store.usage(["wl-busy"]))[0]?.workloadId).toBe("wl-busy");
    });

    it("remembers what each policy granted: audiences, scopes, token types, last use; a re-exchange adds nothing", async () => {
      const store = await harness().open(clock, WIDE);
      await store.record(issued(clock, "wl-a", { audiences: ["https://a.example", "https://b.example"], scopes: ["read"] }));
      clock.advance(1_000);
      await store.record(issued(clock, "wl-b", { tokenType: "jwt", scopes: [] }));
      await store.record(issued(clock, "wl-a", { policyId: undefined, audiences: ["https://c.example"], scopes: ["admin"] }));
      expect(await store.policyUsage(["pol-a", "pol-unused"])).toEqual([
        { policyId: "pol-a", audiences: ["https://a.example", "https://b.example"], scopes: ["read"], tokenTypes: ["access_token", "jwt"], lastUsedMs: clock.now() },
        { policyId: "pol-unused", audiences: [], scopes: [], tokenTypes: [], lastUsedMs: undefined },
      ]);
    });
  });
}
