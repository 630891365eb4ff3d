/**
 * The RateLimiter contract, run against MemoryRateLimiter and RedisRateLimiter (a real
 * redis-server), both driven by a ManualClock: no sleeping, every wait is computed.
 */
import fc from "fast-check";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/lib/clock.js";
import { silentLog } from "../../src/lib/log.js";
import { MemoryRateLimiter } from "../../src/rate-limit/memory-rate-limiter.js";
import { parseRateLimit } from "../../src/rate-limit/rate-limit-setting.js";
import type { RateLimit, RateLimiter, RateLimitKey } from "../../src/rate-limit/rate-limiter.js";
import { rateLimitKey, RedisRateLimiter } from "../../src/redis/redis-rate-limiter.js";
import { createRedisClient, whenRedisReady } from "../../src/redis/redis-connection.js";
import { startRedisServer, type RedisServerHandle } from "../support/redis-server.js";

const START_MS = 1_800_000_000_000;

function limit(text: string): RateLimit {
  const parsed = parseRateLimit(text);
  if (parsed === undefined || "error" in parsed) throw new Error(`bad limit ${text}`);
  return parsed;
}

/** 10 a second sustained (one per 100 ms), 3 at once. */
const TEN_PER_SECOND = limit("10/1s,burst=3");
const client = (id: string): RateLimitKey => ({ kind: "client", id });
const workload = (id: string): RateLimitKey => ({ kind: "workload", id });

/** A client as main.ts makes it (no offline queue, bounded commands), once it is ready. */
async function brokerClient(url: string, commandTimeoutMs = 500) {
  const connection = createRedisClient(url, { commandTimeoutMs, connectTimeoutMs: 1_000, log: silentLog });
  await whenRedisReady(connection, 5_000);
  return connection;
}

let redis: RedisServerHandle;
let raw: Redis;
beforeAll(async () => {
  redis = await startRedisServer();
  raw = new Redis(redis.url, { lazyConnect: false, maxRetriesPerRequest: 0 });
});
afterAll(async () => {
  raw?.disconnect();
  await redis?.stop();
});

/** A fresh limiter of each kind with its own clock; the Redis one starts from an empty database. */
const implementations: { name: string; make: () => Promise<{ limiter: RateLimiter; clock: ManualClock; close: () => void }> }[] = [
  {
    name: "MemoryRateLimiter",
    make: async () => {
      const clock = new ManualClock(START_MS);
      return { limiter: new MemoryRateLimiter(clock), clock, close: () => undefined };
    },
  },
  {
    name: "RedisRateLimiter",
    make: async () => {
      await raw.flushall();
      const clock = new ManualClock(START_MS);
      const client = await brokerClient(redis.url);
      return { limiter: new RedisRateLimiter(client, clock), clock, close: () => client.disconnect() };
    },
  },
];

describe.each(implementations)("$name", ({ make }) => {
  it("allows a burst at once, then refuses with the wait until the next request fits", async () => {
    const { limiter, close } = await make();
    try {
      for (let i = 0; i < 3; i++) expect(await limiter.take(client("10.0.0.1"), TEN_PER_SECOND)).toEqual({ allowed: true });
      const refused = await limiter.take(client("10.0.0.1"), TEN_PER_SECOND);
      expect(refused).toEqual({ allowed: false, retryAfterMs: 100 });
    } finally {
      close();
    }
  });

  it("refills at the sustained rate, and a refused request costs nothing", async () => {
    const { limiter, clock, close } = await make();
    try {
      for (let i = 0; i < 3; i++) await limiter.take(client("a"), TEN_PER_SECOND);
      // Refusals do not push the next allowed instant further out.
      for (let i = 0; i < 5; i++) expect((await limiter.take(client("a"), TEN_PER_SECOND)).allowed).toBe(false);
      clock.advance(99);
      expect(await limiter.take(client("a"), TEN_PER_SECOND)).toEqual({ allowed: false, retryAfterMs: 1 });
      clock.advance(1);
      expect(await limiter.take(client("a"), TEN_PER_SECOND)).toEqual({ allowed: true });
      expect((await limiter.take(client("a"), TEN_PER_SECOND)).allowed).toBe(false);
      // Idle for a full burst's worth of intervals: the whole burst is back, and no more.
      clock.advance(300);
      for (let i = 0; i < 3; i++) expect((await limiter.take(client("a"), TEN_PER_SECOND)).allowed).toBe(true);
      expect((await limiter.take(client("a"), TEN_PER_SECOND)).allowed).toBe(false);
    } finally {
      close();
    }
  });

  it("keeps every budget apart: other ids, and the same id under the other kind", async () => {
    const { limiter, close } = await make();
    const one = limit("1/1h,burst=1");
    try {
      expect((await limiter.take(client("x"), one)).allowed).toBe(true);
      expect((await limiter.take(client("x"), one)).allowed).toBe(false);
      expect((await limiter.take(workload("x"), one)).allowed).toBe(true);
      expect((await limiter.take(client("y"), one)).allowed).toBe(true);
      // Ids that would collide if keys were joined naively.
      expect((await limiter.take(client("workload:x"), one)).allowed).toBe(true);
      expect((await limiter.take(workload("client:x"), one)).allowed).toBe(true);
    } finally {
      close();
    }
  });

  it("answers retryAfterMs = time until the next allowed request, for slow rates too", async () => {
    const { limiter, clock, close } = await make();
    const slow = limit("6/1m,burst=2");
    try {
      await limiter.take(workload("w"), slow);
      await limiter.take(workload("w"), slow);
      expect(await limiter.take(workload("w"), slow)).toEqual({ allowed: false, retryAfterMs: 10_000 });
      clock.advance(2_500);
      expect(await limiter.take(workload("w"), slow)).toEqual({ allowed: false, retryAfterMs: 7_500 });
    } finally {
      close();
    }
  });
});

describe("MemoryRateLimiter and RedisRateLimiter agree", () => {
  it("on any sequence of requests and clock moves (the same GCRA in TypeScript and Lua)", async () => {
    const connection = await brokerClient(redis.url);
    const step = fc.record({ advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 400 })), key: fc.constantFrom("a", "b") });
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), fc.constantFrom("10/1s,burst=3", "7/1s,burst=1", "100/1m,burst=20"), async (steps, text) => {
          const rate = limit(text);
          await raw.flushall();
          const clock = new ManualClock(START_MS);
          const memory = new MemoryRateLimiter(clock);
          const shared = new RedisRateLimiter(connection, clock);
          for (const { advanceMs, key } of steps) {
            clock.advance(advanceMs);
            const [m, r] = [await memory.take(client(key), rate), await shared.take(client(key), rate)];
            expect(r.allowed).toBe(m.allowed);
            // Redis answers whole milliseconds (rounded up).
            if (!m.allowed && !r.allowed) expect(r.retryAfterMs).toBe(Math.ceil(m.retryAfterMs));
          }
        }),
        { seed: 429, numRuns: 60 },
      );
    } finally {
      connection.disconnect();
    }
  });
});

describe("RedisRateLimiter keys and outages", () => {
  it("stores one hashed, namespaced key per budget, expiring when the budget is full again", async () => {
    await raw.flushall();
    const clock = new ManualClock(START_MS);
    const connection = await brokerClient(redis.url);
    try {
      const limiter = new RedisRateLimiter(connection, clock);
      await limiter.take(client("2001:db8::/64"), TEN_PER_SECOND);
      await limiter.take(client("2001:db8::/64"), TEN_PER_SECOND);
      await limiter.take(workload("github/7890/123456"), TEN_PER_SECOND);
      const keys = (await raw.keys("*")).sort();
      expect(keys).toEqual([rateLimitKey(client("2001:db8::/64")), rateLimitKey(workload("github/7890/123456"))].sort());
      for (const key of keys) expect(key).toMatch(/^broker:rl:(client|workload):[0-9a-f]{64}$/);
      expect(keys.join(" ")).not.toContain("2001");
      // Two requests: the TAT is 200 ms ahead, so the key lives at most 200 ms (Redis' own clock).
      const ttl = await raw.pttl(rateLimitKey(client("2001:db8::/64")));
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(200);
    } finally {
      connection.disconnect();
    }
  });

  it("fails with RateLimiterUnavailableError when Redis refuses connections, and when it stops answering", async () => {
    const clock = new ManualClock(START_MS);
    const gone = await startRedisServer();
    const connection = await brokerClient(gone.url, 200);
    try {
      const limiter = new RedisRateLimiter(connection, clock, { timeoutMs: 300 });
      expect((await limiter.take(client("a"), TEN_PER_SECOND)).allowed).toBe(true);
      gone.pause();
      await expect(limiter.take(client("a"), TEN_PER_SECOND)).rejects.toMatchObject({ name: "RateLimiterUnavailableError" });
      gone.resume();
      await gone.kill();
      await expect(limiter.take(client("a"), TEN_PER_SECOND)).rejects.toMatchObject({ name: "RateLimiterUnavailableError" });
    } finally {
      connection.disconnect();
      await gone.stop();
    }
  });
});
