import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { StoreUnavailableError } from "../../src/revocation/revocation-store.js";
import { redisKey, type RedisRevocationStore } from "../../src/redis/redis-revocation-store.js";
import { clockNearNow } from "../support/revocation-store-contract.js";
import { openRedisStore, recordingLog, redisServerForSuite } from "../support/redis-store.js";

const meta = { actor: "operator@example", reason: "test", at: 0 } as const;

const redis = redisServerForSuite();

describe("RedisRevocationStore against redis-server", () => {
  const clock = clockNearNow();
  const now = clock.now() / 1000;
  let store: RedisRevocationStore;

  beforeEach(async () => {
    await redis.raw.flushall();
    store = await openRedisStore(redis.server.url, clock);
  });

  afterEach(async () => {
    await store.close();
  });

  it("a revocation write that no replica acknowledges is refused, not acknowledged; claims and reads keep their path", async () => {
    const strict = await openRedisStore(redis.server.url, clock, { replication: { replicas: 1, minimum: 0, waitTimeoutMs: 50 } });
    try {
      await expect(strict.revokeToken({ ...meta, at: now, jti: "jti-1", expiresAt: now + 600 })).rejects.toThrow(/replicated to 0 of 1/);
      await expect(strict.revokeWorkload({ ...meta, at: now, workloadId: "wl-a", revokedAt: now, expiresAt: now + 600 })).rejects.toBeInstanceOf(
        StoreUnavailableError,
      );
      await expect(strict.blockWorkload({ ...meta, at: now, workloadId: "wl-a", until: undefined })).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(strict.recordSvid({ serial: "0a", workloadId: "wl-a", issuedAt: now, expiresAt: now + 600 })).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(await strict.claimOnce("iss|jti-9", now + 30)).toBe(true);
      expect(await strict.tokenStatus({ jti: "t", sub: "wl-b", iat: now })).toBe("active");
    } finally {
      await strict.close();
    }
    // "auto" on a Redis without replicas has nothing to wait for: acknowledged at once.
    await store.revokeToken({ ...meta, at: now, jti: "jti-2", expiresAt: now + 600 });
    expect(await store.tokenStatus({ jti: "jti-2", sub: "wl-b", iat: now })).toBe("revoked");
  });

  it("uses the documented key layout, with JSON values holding the meta", async () => {
    await store.revokeToken({ ...meta, at: now, jti: "jti-1", expiresAt: now + 600 });
    await store.revokeWorkload({ ...meta, at: now, workloadId: "wl-a", revokedAt: now, expiresAt: now + 3600 });
    await store.blockWorkload({ ...meta, at: now, workloadId: "wl-a", until: undefined });
    await store.claimOnce("iss|jti-9", now + 30);
    expect((await redis.raw.keys("*")).sort()).toEqual(["broker:block:wl-a", "broker:once:iss|jti-9", "broker:rev:jti:jti-1", "broker:rev:wl:wl-a"]);
    expect(JSON.parse((await redis.raw.get("broker:rev:wl:wl-a")) ?? "")).toEqual({
      workloadId: "wl-a",
      revokedAt: now,
      // Given no precise cutoff, the end of the revokedAt second (the whole-second rule).
      cutoffMs: now * 1000 + 999,
      expiresAt: now + 3600,
      actor: "operator@example",
      reason: "test",
      at: now,
    });
  });

  it("each key expires in Redis at its entry's expiry plus the grace period; an open-ended block never", async () => {
    await store.revokeToken({ ...meta, at: now, jti: "jti-1", expiresAt: now + 600 });
    await store.revokeWorkload({ ...meta, at: now, workloadId: "wl-a", revokedAt: now, expiresAt: now + 3600 });
    await store.blockWorkload({ ...meta, at: now, workloadId: "wl-a", until: now + 120 });
    await store.blockWorkload({ ...meta, at: now, workloadId: "wl-b", until: undefined });
    await store.claimOnce("iss|jti-9", now + 30);
    expect(await redis.raw.call("EXPIRETIME", "broker:rev:jti:jti-1")).toBe(now + 600 + 60);
    expect(await redis.raw.call("EXPIRETIME", "broker:rev:wl:wl-a")).toBe(now + 3600 + 60);
    expect(await redis.raw.call("EXPIRETIME", "broker:block:wl-a")).toBe(now + 120 + 60);
    expect(await redis.raw.call("EXPIRETIME", "broker:block:wl-b")).toBe(-1);
    expect(await redis.raw.call("EXPIRETIME", "broker:once:iss|jti-9")).toBe(now + 30 + 60);
  });

  it("without a grace period the keys expire exactly at expiresAt", async () => {
    const exact = await openRedisStore(redis.server.url, clock, { expiryGraceSeconds: 0 });
    try {
      await exact.revokeToken({ ...meta, at: now, jti: "jti-1", expiresAt: now + 600 });
      await exact.claimOnce("k", now + 30);
      expect(await redis.raw.call("EXPIRETIME", "broker:rev:jti:jti-1")).toBe(now + 600);
      expect(await redis.raw.call("EXPIRETIME", "broker:once:k")).toBe(now + 30);
      const ttl = await redis.raw.ttl("broker:rev:jti:jti-1");
      expect(ttl).toBeGreaterThan(590);
      expect(ttl).toBeLessThanOrEqual(600);
    } finally {
      await exact.close();
    }
  });

  it("a later workload revocation extends the key's expiry; an older one leaves entry and expiry alone", async () => {
    await store.revokeWorkload({ ...meta, at: now, workloadId: "wl-a", revokedAt: now, expiresAt: now + 3600 });
    await store.revokeWorkload({ ...meta, at: now, workloadId: "wl-a", revokedAt: now - 10, expiresAt: now + 3590 });
    expect(await redis.raw.call("EXPIRETIME", "broker:rev:wl:wl-a")).toBe(now + 3660);
    await store.revokeWorkload({ ...meta, at: now, workloadId: "wl-a", revokedAt: now + 100, expiresAt: now + 3700 });
    expect(await redis.raw.call("EXPIRETIME", "broker:rev:wl:wl-a")).toBe(now + 3760);
  });

  it("concurrent workload revocations from two replicas keep the latest instant", async () => {
    const other = await openRedisStore(redis.server.url, clock);
    try {
      const instants = Array.from({ length: 40 }, (_unused, index) => now - 200 + index * 5);
      await Promise.all(
        [...instants].reverse().map((revokedAt, index) =>
          (index % 2 ? store : other).revokeWorkload({ ...meta, at: now, workloadId: "wl-a", revokedAt, expiresAt: revokedAt + 3600 }),
        ),
      );
      const { workloads } = await store.list();
      expect(workloads.map((entry) => entry.revokedAt)).toEqual([Math.max(...instants)]);
    } finally {
      await other.close();
    }
  });

  it("keys stay short: long ids and ids starting with # are hashed, so they cannot collide", async () => {
    const long = "x".repeat(255);
    expect(redisKey("workload", long)).toMatch(/^broker:rev:wl:#[0-9a-f]{64}$/);
    expect(redisKey("once", "é".repeat(150))).toMatch(/^broker:once:#[0-9a-f]{64}$/);
    expect(redisKey("jti", "#abc")).toMatch(/^broker:rev:jti:#[0-9a-f]{64}$/);
    expect(redisKey("jti", "x".repeat(200))).toBe(`broker:rev:jti:${"x".repeat(200)}`);
    const hashed = redisKey("jti", "#abc");
    const lookalike = hashed.slice("broker:rev:jti:".length);
    expect(redisKey("jti", lookalike)).not.toBe(hashed);

    await store.revokeToken({ ...meta, at: now, jti: "#abc", expiresAt: now + 60 });
    expect(await store.tokenStatus({ jti: lookalike, sub: "wl", iat: now })).toBe("active");
    expect(await store.tokenStatus({ jti: "#abc", sub: "wl", iat: now })).toBe("revoked");
    for (const key of await redis.raw.keys("*")) expect(key.length).toBeLessThanOrEqual(100);
  });

  it("an unreadable entry fails closed on the hot path and is left out of the listing with a warning", async () => {
    const log = recordingLog();
    const watched = await openRedisStore(redis.server.url, clock, { log });
    try {
      await redis.raw.set(redisKey("workload", "wl-a"), "not json");
      await redis.raw.set(redisKey("jti", "jti-x"), JSON.stringify({ jti: "jti-x" }));
      await watched.revokeToken({ ...meta, at: now, jti: "jti-ok", expiresAt: now + 60 });
      await expect(watched.tokenStatus({ jti: "t", sub: "wl-a", iat: now })).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(watched.tokenStatus({ jti: "jti-x", sub: "wl-b", iat: now })).rejects.toBeInstanceOf(StoreUnavailableError);
      const listing = await watched.list();
      expect(listing.tokens.map((entry) => entry.jti)).toEqual(["jti-ok"]);
      expect(listing.workloads).toEqual([]);
      expect(log.warnings()).toHaveLength(2);
    } finally {
      await watched.close();
    }
  });

  it("list() scans and reads in batches: 1,500 entries come back, claims and foreign keys do not", async () => {
    const entries = Array.from({ length: 1500 }, (_unused, index) => `jti-${index}`);
    // Seeded 100 at a time: each revocation is its own pipeline (write, then replication check), and
    // 1,500 at once would outlast the command timeout on a loaded machine. The listing is under test.
    for (let start = 0; start < entries.length; start += 100) {
      await Promise.all(entries.slice(start, start + 100).map((jti) => store.revokeToken({ ...meta, at: now, jti, expiresAt: now + 600 })));
    }
    await store.claimOnce("iss|x", now + 60);
    await redis.raw.set("other-app:key", "1");
    const listing = await store.list();
    expect(listing.tokens.map((entry) => entry.jti).sort()).toEqual([...entries].sort());
  });

  it("an entry Redis still holds after its expiry by the broker's clock does not count", async () => {
    const later = clockNearNow();
    const stale = await openRedisStore(redis.server.url, later);
    try {
      await stale.revokeToken({ ...meta, at: now, jti: "jti-1", expiresAt: now + 10 });
      later.advance(10_000);
      expect(await redis.raw.exists("broker:rev:jti:jti-1")).toBe(1);
      expect(await stale.tokenStatus({ jti: "jti-1", sub: "wl", iat: now })).toBe("active");
      expect((await stale.list()).tokens).toEqual([]);
    } finally {
      await stale.close();
    }
  });
});
