import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/lib/clock.js";
import { aroundCalls, type CallLabels } from "../../src/lib/around-calls.js";
import {
  InvalidCursorError,
  type IssuanceChecks,
  type RevocationAdmin,
  type RevocationStatus,
  type RevocationStore,
  type SingleUseClaims,
  type StoreLifecycle,
  type SvidRegistry,
  type WorkloadBlock,
} from "../../src/revocation/revocation-store.js";

/**
 * One implementation under test. `open` gives a store over the shared state; `peer` gives a second,
 * separate store instance over the same state (another replica: for Redis a second client; for
 * memory, whose state is one process's, the same instance). `reset` empties the shared state.
 */
export interface StoreHarness {
  open(clock: ManualClock): Promise<RevocationStore>;
  peer(clock: ManualClock, first: RevocationStore): Promise<RevocationStore>;
  reset(): Promise<void>;
}

/** Real time, whole seconds: Redis expiries (EXAT) are set from this clock, so keep it near now. */
export function clockNearNow(): ManualClock {
  return new ManualClock(Math.floor(Date.now() / 1000) * 1000);
}

const meta = { actor: "operator@example", reason: "compromised", at: 0 } as const;

/**
 * The store seen through one role only: an object holding that role's calls and nothing else, as
 * a consumer that declares the role gets it. `labels` must name every call of the role.
 */
function roleOf<Role extends object>(store: Role, labels: CallLabels<Role>) {
  return aroundCalls(store, labels, (_label, call) => call());
}

/** The behaviour every RevocationStore must show, whatever it is built on. */
export function revocationStoreContract(name: string, harness: () => StoreHarness): void {
  describe(`RevocationStore contract: ${name}`, () => {
    let clock: ManualClock;
    let store: RevocationStore;
    const opened: RevocationStore[] = [];
    let now: number;

    beforeEach(async () => {
      await harness().reset();
      clock = clockNearNow();
      now = clock.now() / 1000;
      store = await harness().open(clock);
      opened.push(store);
    });

    afterEach(async () => {
      for (const each of new Set(opened.splice(0))) await each.close();
    });

    it("a revoked jti is revoked; other tokens stay active", async () => {
      await store.revokeToken({ ...meta, at: now, jti: "jti-1", expiresAt: now + 600 });
      expect(await store.tokenStatus({ jti: "jti-1", sub: "wl-a", iat: now - 10 })).toBe("revoked");
      expect(await store.tokenStatus({ jti: "jti-2", sub: "wl-a", iat: now - 10 })).toBe("active");
    });

    it("revoking a workload revokes its tokens issued at or before the instant, not later ones", async () => {
      await store.revokeWorkload({ ...meta, at: now, workloadId: "wl-a", revokedAt: now, expiresAt: now + 3600 });
      expect(await store.tokenStatus({ jti: "t1", sub: "wl-a", iat: now - 100 })).toBe("revoked");
      expect(await store.tokenStatus({ jti: "t2", sub: "wl-a", iat: now })).toBe("revoked");
      expect(await store.tokenStatus({ jti: "t3", sub: "wl-a", iat: now + 1 })).toBe("active");
      expect(await store.tokenStatus({ jti: "t4", sub: "wl-b", iat: now - 100 })).toBe("active");
    });

    it("precise order: a token stamped after the cutoff is active in the same second; the judgement names the latest cutoff read", async () => {
      const cutoffMs = now * 1000 + 400;
      await store.revokeWorkload({ ...meta, at: now, workloadId: "wl-a", revokedAt: now, cutoffMs, expiresAt: now + 3600 });
      expect(await store.tokenStatus({ jti: "t1", sub: "wl-a", iat: now, issuedAtMs: cutoffMs })).toBe("revoked");
      expect(await store.tokenStatus({ jti: "t2", sub: "wl-a", iat: now, issuedAtMs: cutoffMs + 1 })).toBe("active");
      // A token without the precise stamp (minted before it existed) keeps the whole-second rule.
      expect(await store.tokenStatus({ jti: "t3", sub: "wl-a", iat: now })).toBe("revoked");
      expect(await store.tokenRevocation({ jti: "t2", sub: "wl-b", iat: now, issuedAtMs: cutoffMs + 1, actors: ["wl-a"] })).toEqual({ cause: undefined, latestCutoffMs: cutoffMs });
      expect(await store.tokenRevocation({ jti: "t4", sub: "wl-b", iat: now })).toEqual({ cause: undefined, latestCutoffMs: undefined });
      expect((await store.workloadRevocation("wl-a"))?.cutoffMs).toBe(cutoffMs);
      expect(await store.workloadRevocation("wl-b")).toBeUndefined();
    });

    it("a new revocation's cutoff lands strictly after the cutoff in force, whatever the revoker's clock says", async () => {
      const other = await harness().peer(clock, store);
      opened.push(other);
      await store.revokeWorkload({ ...meta, at: now, workloadId: "wl-a", revokedAt: now, cutoffMs: now * 1000 + 900, expiresAt: now + 3600 });
      // A token stamped after reading that entry (cutoff + 1), then a second revocation from a replica whose clock is behind.
      const stampedAfter = { jti: "t", sub: "wl-a", iat: now, issuedAtMs: now * 1000 + 901 };
      expect(await other.tokenStatus(stampedAfter)).toBe("active");
      await other.revokeWorkload({ ...meta, at: now, workloadId: "wl-a", revokedAt: now, cutoffMs: now * 1000 + 100, expiresAt: now + 3600 });
      expect(await store.tokenStatus(stampedAfter)).toBe("revoked");
      expect((await store.workloadRevocation("wl-a"))?.cutoffMs).toBe(now * 1000 + 901);
    });

    it("a later revocation moves the instant forward; an older one never moves it back", async () => {
      await store.revokeWorkload({ ...meta, at: now, workloadId: "wl-a", revokedAt: now, expiresAt: now + 3600 });
      await store.revokeWorkload({ ...meta, at: now, workloadId: "wl-a", revokedAt: now - 500, expiresAt: now + 3100 });
      expect(await store.tokenStatus({ jti: "t", sub: "wl-a", iat: now - 1 })).toBe("revoked");
      expect(await store.tokenStatus({ jti: "t", sub: "wl-a", iat: now })).toBe("revoked");

      await store.revokeWorkload({ ...meta, at: now + 50, workloadId: "wl-a", revokedAt: now + 50, expiresAt: now + 3650 });
      expect(await store.tokenStatus({ jti: "t", sub: "wl-a", iat: now + 50 })).toBe("revoked");
      expect(await store.tokenStatus({ jti: "t", sub: "wl-a", iat: now + 51 })).toBe("active");
      const { workloads } = await store.list();
      expect(workloads.map((entry) => entry.revokedAt)).toEqual([now + 50]);
    });

    it("revoking a token revokes every token minted from it (its lineage), on every replica, and says why", async () => {
      const other = await harness().peer(clock, store);
      opened.push(other);
      const child = { jti: "child", sub: "wl-b", iat: now, lineage: ["root", "parent"] };
      expect((await other.tokenRevocation(child)).cause).toBeUndefined();
      await store.revokeToken({ ...meta, at: now, jti: "parent", expiresAt: now + 600 });
      expect(await other.tokenStatus(child)).toBe("revoked");
      expect((await other.tokenRevocation(child)).cause).toBe("family");
      // The ancestor is untouched, and its own jti still ranks first.
      expect(await other.tokenStatus({ jti: "root", sub: "wl-a", iat: now })).toBe("active");
      expect((await other.tokenRevocation({ jti: "parent", sub: "wl-a", iat: now, lineage: ["root"] })).cause).toBe("jti");
      // The family mark ends with the revoked token's entry (every member dies before it).
      clock.advance(601_000);
      expect(await other.tokenStatus(child)).toBe("active");
    });

    it("revoking the workload of an actor in a token's chain revokes the token when issued at or before the instant", async () => {
      await store.revokeWorkload({ ...meta, at: now, workloadId: "wl-actor", revokedAt: now, expiresAt: now + 3600 });
      expect((await store.tokenRevocation({ jti: "d1", sub: "wl-a", iat: now, actors: ["wl-other", "wl-actor"] })).cause).toBe("actor_workload");
      expect(await store.tokenStatus({ jti: "d2", sub: "wl-a", iat: now + 1, actors: ["wl-actor"] })).toBe("active");
      expect((await store.tokenRevocation({ jti: "d3", sub: "wl-actor", iat: now })).cause).toBe("workload");
      expect((await store.tokenRevocation({ jti: "d4", sub: "wl-a", iat: now, lineage: [], actors: [] })).cause).toBeUndefined();
      // A precise stamp counts for actors too: after the cutoff, the same second is no longer revoked.
      expect(await store.tokenStatus({ jti: "d5", sub: "wl-a", iat: now, issuedAtMs: now * 1000 + 999, actors: ["wl-actor"] })).toBe("revoked");
      expect(await store.tokenStatus({ jti: "d6", sub: "wl-a", iat: now, issuedAtMs: now * 1000 + 1000, actors: ["wl-actor"] })).toBe("active");
    });

    it("a revoked token's judgement names the entry that revoked it and when it was recorded (ms; whole seconds for older entries)", async () => {
      const other = await harness().peer(clock, store);
      opened.push(other);
      const atMs = now * 1000 + 123;
      await store.revokeToken({ ...meta, at: now, atMs, jti: "leaked", expiresAt: now + 600 });
      expect((await other.tokenRevocation({ jti: "leaked", sub: "wl-a", iat: now })).revokedBy).toEqual({ key: "jti:leaked", atMs });
      expect((await other.tokenRevocation({ jti: "kid", sub: "wl-a", iat: now, lineage: ["leaked"] })).revokedBy).toEqual({ key: "jti:leaked", atMs });
      // An entry written before atMs existed: its whole second.
      await store.revokeToken({ ...meta, at: now - 5, jti: "old", expiresAt: now + 600 });
      expect((await other.tokenRevocation({ jti: "old", sub: "wl-a", iat: now })).revokedBy).toEqual({ key: "jti:old", atMs: (now - 5) * 1000 });
      const cutoffMs = now * 1000 + 900;
      await store.revokeWorkload({ ...meta, at: now, atMs: atMs + 1, workloadId: "wl-b", revokedAt: now, cutoffMs, expiresAt: now + 3600 });
      expect((await other.tokenRevocation({ jti: "t", sub: "wl-b", iat: now })).revokedBy).toEqual({ key: `workload:wl-b:${cutoffMs}`, atMs: atMs + 1 });
      expect((await other.tokenRevocation({ jti: "t", sub: "wl-c", iat: now, actors: ["wl-b"] })).revokedBy).toEqual({ key: `workload:wl-b:${cutoffMs}`, atMs: atMs + 1 });
      expect((await other.tokenRevocation({ jti: "fresh", sub: "wl-a", iat: now })).revokedBy).toBeUndefined();
      await store.blockWorkload({ ...meta, at: now, atMs: atMs + 2, workloadId: "wl-d", until: undefined });
      expect((await other.activeBlock("wl-d"))?.atMs).toBe(atMs + 2);
    });

    it("block and unblock; unblocking twice reports that nothing was lifted", async () => {
      const block: WorkloadBlock = { ...meta, at: now, workloadId: "wl-a", until: undefined };
      await store.blockWorkload(block);
      expect(await store.activeBlock("wl-a")).toEqual(block);
      expect(await store.activeBlock("wl-b")).toBeUndefined();
      expect(await store.unblockWorkload("wl-a")).toBe(true);
      expect(await store.activeBlock("wl-a")).toBeUndefined();
      expect(await store.unblockWorkload("wl-a")).toBe(false);
    });

    it("a block with an end time ends by itself", async () => {
      await store.blockWorkload({ ...meta, at: now, workloadId: "wl-a", until: now + 60 });
      expect((await store.activeBlock("wl-a"))?.until).toBe(now + 60);
      clock.advance(60_000);
      expect(await store.activeBlock("wl-a")).toBeUndefined();
      expect((await store.list()).blocks).toEqual([]);
      expect(await store.unblockWorkload("wl-a")).toBe(false);
    });

    it("lifting a block leaves revoked credentials revoked", async () => {
      await store.revokeWorkload({ ...meta, at: now, workloadId: "wl-a", revokedAt: now, expiresAt: now + 3600 });
      await store.blockWorkload({ ...meta, at: now, workloadId: "wl-a", until: undefined });
      await store.unblockWorkload("wl-a");
      expect(await store.tokenStatus({ jti: "t", sub: "wl-a", iat: now })).toBe("revoked");
    });

    it("claimOnce: the first claim wins, replays lose, and the key is free again after expiry", async () => {
      expect(await store.claimOnce("issuer|jti-1", now + 30)).toBe(true);
      expect(await store.claimOnce("issuer|jti-1", now + 30)).toBe(false);
      expect(await store.claimOnce("issuer|jti-2", now + 30)).toBe(true);
      clock.advance(29_000);
      expect(await store.claimOnce("issuer|jti-1", now + 30)).toBe(false);
      clock.advance(1_000);
      expect(await store.claimOnce("issuer|jti-1", now + 90)).toBe(true);
      expect(await store.claimOnce("issuer|jti-1", now + 90)).toBe(false);
    });

    it("50 concurrent claims of one key through two store instances: exactly one wins", async () => {
      const other = await harness().peer(clock, store);
      opened.push(other);
      const claims = Array.from({ length: 50 }, (_unused, index) =>
        (index % 2 === 0 ? store : other).claimOnce("issuer|contended", now + 60),
      );
      const results = await Promise.all(claims);
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it("a revocation through one instance is seen by the other on its next call", async () => {
      const other = await harness().peer(clock, store);
      opened.push(other);
      await store.revokeWorkload({ ...meta, at: now, workloadId: "wl-a", revokedAt: now, expiresAt: now + 3600 });
      await store.blockWorkload({ ...meta, at: now, workloadId: "wl-a", until: undefined });
      expect(await other.tokenStatus({ jti: "t", sub: "wl-a", iat: now })).toBe("revoked");
      expect(await other.activeBlock("wl-a")).toBeDefined();
    });

    it("entries stop counting at their expiry", async () => {
      await store.revokeToken({ ...meta, at: now, jti: "jti-1", expiresAt: now + 300 });
      await store.revokeWorkload({ ...meta, at: now, workloadId: "wl-a", revokedAt: now, expiresAt: now + 600 });
      clock.advance(300_000);
      expect(await store.tokenStatus({ jti: "jti-1", sub: "wl-b", iat: now })).toBe("active");
      expect(await store.tokenStatus({ jti: "t", sub: "wl-a", iat: now })).toBe("revoked");
      clock.advance(300_000);
      expect(await store.tokenStatus({ jti: "t", sub: "wl-a", iat: now })).toBe("active");
    });

    it("list() shows what is in force, with its meta, and leaves out what expired", async () => {
      await store.revokeToken({ actor: "alice", reason: "leaked in a log", at: now, jti: "jti-short", expiresAt: now + 60 });
      await store.revokeToken({ actor: "alice", reason: "leaked in a log", at: now, jti: "jti-long", expiresAt: now + 900 });
      await store.revokeWorkload({ actor: "bob", reason: "retired", at: now, workloadId: "wl-a", revokedAt: now, expiresAt: now + 3600 });
      await store.blockWorkload({ actor: "bob", reason: "retired", at: now, workloadId: "wl-a", until: undefined });
      await store.blockWorkload({ actor: "carol", reason: "maintenance", at: now, workloadId: "wl-b", until: now + 120 });
      clock.advance(120_000);

      const listing = await store.list();
      expect(listing.tokens).toEqual([{ actor: "alice", reason: "leaked in a log", at: now, jti: "jti-long", expiresAt: now + 900 }]);
      expect(listing.workloads).toEqual([
        { actor: "bob", reason: "retired", at: now, workloadId: "wl-a", revokedAt: now, cutoffMs: now * 1000 + 999, expiresAt: now + 3600 },
      ]);
      expect(listing.blocks).toEqual([{ actor: "bob", reason: "retired", at: now, workloadId: "wl-a", until: undefined }]);
    });

    it("workload ids and token ids of any length and character work, and list() gives them back", async () => {
      const workloadId = `spiffe://example.org/ns/{a}*?[x]:${"w".repeat(300)}`.slice(0, 255);
      expect(workloadId).toHaveLength(255);
      const jti = `#${"j".repeat(2000)}`;
      await store.revokeWorkload({ ...meta, at: now, workloadId, revokedAt: now, expiresAt: now + 600 });
      await store.revokeToken({ ...meta, at: now, jti, expiresAt: now + 600 });
      await store.blockWorkload({ ...meta, at: now, workloadId, until: undefined });
      expect(await store.tokenStatus({ jti: "other", sub: workloadId, iat: now })).toBe("revoked");
      expect(await store.tokenStatus({ jti: "other", sub: workloadId.slice(0, 254), iat: now })).toBe("active");
      expect(await store.tokenStatus({ jti, sub: "wl-z", iat: now })).toBe("revoked");
      expect(await store.activeBlock(workloadId)).toBeDefined();
      const listing = await store.list();
      expect(listing.workloads.map((entry) => entry.workloadId)).toEqual([workloadId]);
      expect(listing.tokens.map((entry) => entry.jti)).toEqual([jti]);
      expect(listing.blocks.map((entry) => entry.workloadId)).toEqual([workloadId]);
    });

    it("SVIDs: revoking a workload revokes its SVIDs issued at or before the instant, until they expire", async () => {
      await store.recordSvid({ serial: "0a01", workloadId: "wl-a", issuedAt: now - 10, expiresAt: now + 600 });
      await store.recordSvid({ serial: "0a02", workloadId: "wl-a", issuedAt: now + 5, expiresAt: now + 600 });
      // Same second as the revocation: the precise stamp decides (before the cutoff: revoked; after: not).
      await store.recordSvid({ serial: "0a03", workloadId: "wl-a", issuedAt: now, issuedAtMs: now * 1000 + 998, expiresAt: now + 600 });
      await store.recordSvid({ serial: "0a04", workloadId: "wl-a", issuedAt: now, issuedAtMs: now * 1000 + 1000, expiresAt: now + 600 });
      await store.recordSvid({ serial: "0b01", workloadId: "wl-b", issuedAt: now - 10, expiresAt: now + 600 });
      expect(await store.revokedSvids()).toEqual([]);
      await store.revokeWorkload({ ...meta, at: now, workloadId: "wl-a", revokedAt: now, expiresAt: now + 3600 });
      const revoked = [...(await store.revokedSvids())].sort((x, y) => x.serial.localeCompare(y.serial));
      expect(revoked).toEqual([
        { serial: "0a01", expiresAt: now + 600, revokedAt: now },
        { serial: "0a03", expiresAt: now + 600, revokedAt: now },
      ]);
      // Revocations leave the SVID listing when the SVIDs expire, though the workload entry lives on.
      clock.advance(600_000);
      expect(await store.revokedSvids()).toEqual([]);
    });

    it("SVIDs: a serial is revoked on its own, once; unknown and expired serials are not", async () => {
      await store.recordSvid({ serial: "0c01", workloadId: "wl-c", issuedAt: now, expiresAt: now + 300 });
      await store.recordSvid({ serial: "0c02", workloadId: "wl-c", issuedAt: now, expiresAt: now + 300 });
      const first = await store.revokeSvid("0c01", { actor: "alice", reason: "key leaked", at: now + 1 });
      expect(first).toEqual({ serial: "0c01", workloadId: "wl-c", issuedAt: now, expiresAt: now + 300, revoked: { actor: "alice", reason: "key leaked", at: now + 1 } });
      const again = await store.revokeSvid("0c01", { actor: "bob", reason: "again", at: now + 2 });
      expect(again?.revoked).toEqual({ actor: "alice", reason: "key leaked", at: now + 1 });
      expect(await store.revokeSvid("ffff", { ...meta, at: now })).toBeUndefined();
      expect(await store.revokedSvids()).toEqual([{ serial: "0c01", expiresAt: now + 300, revokedAt: now + 1 }]);
      clock.advance(300_000);
      expect(await store.revokeSvid("0c02", { ...meta, at: now + 300 })).toBeUndefined();
      expect(await store.revokedSvids()).toEqual([]);
    });

    it("SVIDs: a revocation through one instance reaches the other's listing", async () => {
      const other = await harness().peer(clock, store);
      opened.push(other);
      await store.recordSvid({ serial: "0d01", workloadId: "wl-d", issuedAt: now, expiresAt: now + 300 });
      await other.revokeSvid("0d01", { ...meta, at: now });
      expect((await store.revokedSvids()).map((entry) => entry.serial)).toEqual(["0d01"]);
    });

    /** Follows the cursor from the first page to the last, alternating between `stores`; every page checked against `limit`. */
    async function allPages(stores: readonly RevocationStore[], limit: number, between?: (pageIndex: number) => Promise<void>) {
      const ids = { tokens: [] as string[], workloads: [] as string[], blocks: [] as string[] };
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await (stores[pages % stores.length] as RevocationStore).listPage({ limit, cursor });
        expect(page.tokens.length + page.workloads.length + page.blocks.length).toBeLessThanOrEqual(limit);
        ids.tokens.push(...page.tokens.map((entry) => entry.jti));
        ids.workloads.push(...page.workloads.map((entry) => entry.workloadId));
        ids.blocks.push(...page.blocks.map((entry) => entry.workloadId));
        cursor = page.nextCursor;
        pages += 1;
        expect(pages, "the listing never ends").toBeLessThan(500);
        if (cursor !== undefined) await between?.(pages);
      } while (cursor !== undefined);
      return { ids, pages };
    }

    const range = (prefix: string, count: number) => Array.from({ length: count }, (_unused, index) => `${prefix}-${String(index).padStart(3, "0")}`);

    it("listPage: pages of at most `limit` entries cover everything in force, whichever instance follows the cursor", async () => {
      const other = await harness().peer(clock, store);
      opened.push(other);
      for (const jti of range("jti", 23)) await store.revokeToken({ ...meta, at: now, jti, expiresAt: now + 600 });
      await store.revokeToken({ ...meta, at: now, jti: "jti-expired", expiresAt: now + 1 });
      for (const workloadId of range("wl", 11)) await store.revokeWorkload({ ...meta, at: now, workloadId, revokedAt: now, expiresAt: now + 600 });
      for (const workloadId of range("blocked", 6)) await store.blockWorkload({ ...meta, at: now, workloadId, until: undefined });
      clock.advance(1_000);

      const { ids, pages } = await allPages([store, other], 7);
      expect(new Set(ids.tokens)).toEqual(new Set(range("jti", 23)));
      expect(new Set(ids.workloads)).toEqual(new Set(range("wl", 11)));
      expect(new Set(ids.blocks)).toEqual(new Set(range("blocked", 6)));
      expect(pages).toBeGreaterThanOrEqual(6);

      const one = await allPages([store], 1);
      expect(new Set(one.ids.tokens)).toEqual(new Set(range("jti", 23)));
      expect(one.pages).toBeGreaterThanOrEqual(40);

      const whole = await store.listPage({ limit: 1000, cursor: undefined });
      expect(whole.tokens.length + whole.workloads.length + whole.blocks.length).toBe(40);
      expect(whole.nextCursor).toBeUndefined();
      const empty = await store.listPage({ limit: 5, cursor: undefined });
      expect(empty.tokens.length + empty.workloads.length + empty.blocks.length).toBeLessThanOrEqual(5);
    });

    it("listPage: an entry in force for the whole listing is listed, while others come and go between pages", async () => {
      for (const workloadId of range("stays", 20)) await store.blockWorkload({ ...meta, at: now, workloadId, until: undefined });
      for (const workloadId of range("goes", 10)) await store.blockWorkload({ ...meta, at: now, workloadId, until: undefined });
      const { ids } = await allPages([store], 4, async (pageIndex) => {
        if (pageIndex === 1) for (const workloadId of range("goes", 10)) await store.unblockWorkload(workloadId);
        if (pageIndex === 2) for (const workloadId of range("comes", 10)) await store.blockWorkload({ ...meta, at: now, workloadId, until: undefined });
      });
      expect(ids.blocks).toEqual(expect.arrayContaining(range("stays", 20)));
      expect(new Set(ids.blocks).size).toBeLessThanOrEqual(40);
    });

    it("listPage: refuses a cursor it did not make", async () => {
      for (const jti of range("jti", 5)) await store.revokeToken({ ...meta, at: now, jti, expiresAt: now + 600 });
      const first = await store.listPage({ limit: 2, cursor: undefined });
      expect(first.nextCursor).toBeDefined();
      const forged = [
        "not-a-cursor!",
        "x",
        Buffer.from("{}").toString("base64url"),
        Buffer.from('{"v":2}').toString("base64url"),
        Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(first.nextCursor ?? "", "base64url").toString()), v: 9 })).toString("base64url"),
        "A".repeat(9000),
      ];
      for (const cursor of forged) await expect(store.listPage({ limit: 2, cursor })).rejects.toBeInstanceOf(InvalidCursorError);
    });

    it("each role works on its own, through an object that holds only that role's calls", async () => {
      const claims: SingleUseClaims = roleOf<SingleUseClaims>(store, { claimOnce: null });
      const status: RevocationStatus = roleOf<RevocationStatus>(store, { tokenStatus: null });
      const checks: IssuanceChecks = roleOf<IssuanceChecks>(store, { claimOnce: null, tokenRevocation: null, activeBlock: null, workloadRevocation: null });
      const admin: RevocationAdmin = roleOf<RevocationAdmin>(store, {
        revokeToken: null,
        revokeWorkload: null,
        blockWorkload: null,
        unblockWorkload: null,
        list: null,
        listPage: null,
      });
      const svids: SvidRegistry = roleOf<SvidRegistry>(store, { recordSvid: null, revokeSvid: null, revokedSvids: null });
      const lifecycle: Omit<StoreLifecycle, "kind"> = roleOf<StoreLifecycle>(store, { ping: null, close: null });

      await admin.revokeToken({ ...meta, at: now, jti: "role-jti", expiresAt: now + 600 });
      await admin.revokeWorkload({ ...meta, at: now, workloadId: "role-wl", revokedAt: now, expiresAt: now + 600 });
      await admin.blockWorkload({ ...meta, at: now, workloadId: "role-blocked", until: undefined });
      expect(await status.tokenStatus({ jti: "role-jti", sub: "other", iat: now })).toBe("revoked");
      expect((await checks.tokenRevocation({ jti: "t", sub: "role-wl", iat: now - 1 })).cause).toBe("workload");
      expect(await checks.workloadRevocation("role-wl")).toMatchObject({ workloadId: "role-wl" });
      expect(await checks.activeBlock("role-blocked")).toMatchObject({ workloadId: "role-blocked" });
      expect(await checks.claimOnce("role|subject", now + 60)).toBe(true);
      expect(await claims.claimOnce("role|subject", now + 60)).toBe(false);
      expect(await claims.claimOnce("role|proof", now + 60)).toBe(true);

      await svids.recordSvid({ serial: "0e01", workloadId: "role-svid", issuedAt: now, expiresAt: now + 300 });
      expect(await svids.revokeSvid("0e01", { ...meta, at: now + 1 })).toMatchObject({ serial: "0e01" });
      expect((await svids.revokedSvids()).map((entry) => entry.serial)).toEqual(["0e01"]);

      const listed = await admin.list();
      expect([listed.tokens.length, listed.workloads.length, listed.blocks.length]).toEqual([1, 1, 1]);
      const page = await admin.listPage({ limit: 10, cursor: undefined });
      expect([page.tokens.length, page.workloads.length, page.blocks.length, page.nextCursor]).toEqual([1, 1, 1, undefined]);
      expect(await admin.unblockWorkload("role-blocked")).toBe(true);
      await expect(lifecycle.ping()).resolves.toBeUndefined();
    });

    // Last, and it writes nothing: the suites that follow on the same server start from an empty one.
    it("ping answers while the store is up", async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}
