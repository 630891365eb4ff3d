import { Cluster } from "ioredis";
import { beforeEach, describe, expect, it } from "vitest";
import { admitInOneTrip, admitInTurn, type AdmitIssuance, type IssuanceCheck } from "../../src/authorization/admit-issuance.js";
import { createRateLimitGate } from "../../src/authorization/rate-limit-gate.js";
import { BrokerError } from "../../src/errors/broker-error.js";
import { ManualClock } from "../../src/lib/clock.js";
import { silentLog } from "../../src/lib/log.js";
import { parseRateLimit } from "../../src/rate-limit/rate-limit-setting.js";
import type { RateLimit } from "../../src/rate-limit/rate-limiter.js";
import { createRedisClient, whenRedisReady } from "../../src/redis/redis-connection.js";
import { redisIssuanceState } from "../../src/redis/redis-issuance-state.js";
import { RedisRateLimiter } from "../../src/redis/redis-rate-limiter.js";
import { createRedisRevocationStore, redisKey, type RedisRevocationStore } from "../../src/redis/redis-revocation-store.js";
import { RedisStoreCore } from "../../src/redis/redis-store-core.js";
import { startRedisServer } from "../support/redis-server.js";
import { COMMAND_TIMEOUT_MS, redisServerForSuite, within } from "../support/redis-store.js";

/*
 * The issuance read in one round trip (one Lua script: the workload's block and revocation, its
 * rate charge, a single-use token's claim) must answer every issuance exactly as the limiter and
 * the store asked in turn do, and leave Redis in the same state. Each scenario runs on both paths
 * against a real redis-server, from the same starting state, with the same clock.
 */

const meta = { actor: "operator@example", reason: "compromised", at: 0 } as const;
const T0 = 1_800_000_000_000;

function limit(text: string): RateLimit {
  const parsed = parseRateLimit(text);
  if (parsed === undefined || "error" in parsed) throw new Error(`bad limit ${text}`);
  return parsed;
}

const redis = redisServerForSuite();

/** Both ways of admitting an issuance, over one client, store and limiter, with a manual clock. */
interface Paths {
  readonly clock: ManualClock;
  readonly store: RedisRevocationStore;
  readonly inTurn: AdmitIssuance;
  readonly oneTrip: AdmitIssuance;
  readonly limited: () => number;
  close(): Promise<void>;
}

async function openPaths(url: string, workloadLimit: RateLimit | undefined): Promise<Paths> {
  const clock = new ManualClock(T0);
  const client = createRedisClient(url, { commandTimeoutMs: COMMAND_TIMEOUT_MS, connectTimeoutMs: COMMAND_TIMEOUT_MS, log: silentLog });
  await whenRedisReady(client, 10_000);
  const store = createRedisRevocationStore(client, clock);
  let refusals = 0;
  const gate = createRateLimitGate({
    limiter: new RedisRateLimiter(client, clock),
    client: undefined,
    workload: workloadLimit,
    audit: { record: () => undefined },
    onLimited: () => refusals++,
  });
  const read = redisIssuanceState(new RedisStoreCore(client, clock));
  if (read === undefined) throw new Error("a standalone Redis must have the one-trip read");
  return {
    clock,
    store,
    inTurn: (check) => admitInTurn({ revocations: store, admitWorkload: gate.admitWorkload }, check),
    oneTrip: admitInOneTrip(read, gate.workloadLimit, gate.judgeWorkloadCharge),
    limited: () => refusals,
    close: () => store.close(),
  };
}

type Outcome = { floor: number | undefined } | { error: string; description: string; retryAfterSeconds: number | undefined };

async function outcome(admit: AdmitIssuance, check: IssuanceCheck): Promise<Outcome> {
  try {
    return { floor: (await admit(check)).issueAfterMs };
  } catch (error) {
    if (!(error instanceof BrokerError)) throw error;
    return { error: error.code, description: error.description, retryAfterSeconds: error.retryAfterSeconds };
  }
}

/** Every key with its value (a budget's TAT, a claim, an entry) and whether it expires. */
async function snapshot(): Promise<Record<string, { value: string | null; expires: boolean }>> {
  const keys = (await redis.raw.keys("*")).sort();
  const entries = await Promise.all(keys.map(async (key) => [key, { value: await redis.raw.get(key), expires: (await redis.raw.pttl(key)) > 0 }] as const));
  return Object.fromEntries(entries);
}

/** One step of a scenario: an issuance at a clock offset, or a change the operator makes. */
type Step = { readonly at?: number; readonly check: IssuanceCheck } | { readonly at?: number; readonly setUp: (paths: Paths) => Promise<unknown> };

const wl = "spiffe://example.org/ci/deploy";
const plain: IssuanceCheck = { workloadId: wl, replay: undefined };
const once = (jti: string): IssuanceCheck => ({ workloadId: wl, replay: { key: `gha:${jti}`, expiresAt: T0 / 1000 + 300 } });
const nowSeconds = T0 / 1000;

/** An outcome in short: "ok", "ok after <ms past T0>", or the error code. */
function short(each: Outcome): string {
  if ("error" in each) return each.error;
  return each.floor === undefined ? "ok" : `ok after ${each.floor - T0}`;
}

const scenarios: { name: string; limit: string | undefined; steps: Step[]; expected: string[] }[] = [
  { name: "nothing stored: allowed until the burst is spent, then 429 with Retry-After", limit: "1/1s,burst=2", steps: [{ check: plain }, { check: plain }, { check: plain }, { at: 1_000, check: plain }], expected: ["ok", "ok", "temporarily_unavailable", "ok"] },
  {
    name: "a block in force refuses (and the budget is charged as before); lifted, issuance resumes",
    limit: "1/1s,burst=3",
    steps: [
      { setUp: (p) => p.store.blockWorkload({ ...meta, at: nowSeconds, workloadId: wl, until: undefined }) },
      { check: plain },
      { check: plain },
      { setUp: (p) => p.store.unblockWorkload(wl) },
      { check: plain },
    ],
    expected: ["unauthorized_client", "unauthorized_client", "ok"],
  },
  {
    name: "a block that has ended does not refuse",
    limit: "1/1s,burst=3",
    steps: [{ setUp: (p) => p.store.blockWorkload({ ...meta, at: nowSeconds - 100, workloadId: wl, until: nowSeconds - 10 }) }, { check: plain }],
    expected: ["ok"],
  },
  {
    name: "a workload revocation in force sets the floor; an older-style entry (no cutoffMs) its whole second",
    limit: "1/1s,burst=3",
    steps: [
      { setUp: (p) => p.store.revokeWorkload({ ...meta, at: nowSeconds, workloadId: wl, revokedAt: nowSeconds, cutoffMs: T0 + 5, expiresAt: nowSeconds + 600 }) },
      { check: plain },
      { setUp: () => redis.raw.set(redisKey("workload", wl), JSON.stringify({ workloadId: wl, revokedAt: nowSeconds, expiresAt: nowSeconds + 600, ...meta })) },
      { check: plain },
    ],
    expected: ["ok after 5", "ok after 999"],
  },
  {
    name: "a single-use token: the first use is allowed, the second refused; another token is allowed",
    limit: "1/1s,burst=5",
    steps: [{ check: once("a") }, { check: once("a") }, { check: once("b") }],
    expected: ["ok", "invalid_request", "ok"],
  },
  {
    name: "a single-use token refused by the limit is not used up: once the budget refills it is allowed",
    limit: "1/1s,burst=1",
    steps: [{ check: once("a") }, { check: once("b") }, { at: 1_000, check: once("b") }, { at: 2_000, check: once("b") }],
    expected: ["ok", "temporarily_unavailable", "ok", "invalid_request"],
  },
  {
    name: "a single-use token of a blocked workload is claimed (as before): after the block is lifted it is spent",
    limit: "1/1s,burst=5",
    steps: [
      { setUp: (p) => p.store.blockWorkload({ ...meta, at: nowSeconds, workloadId: wl, until: undefined }) },
      { check: once("a") },
      { setUp: (p) => p.store.unblockWorkload(wl) },
      { check: once("a") },
    ],
    expected: ["unauthorized_client", "invalid_request"],
  },
  {
    name: "no workload limit: nothing is charged, nothing is refused for rate",
    limit: undefined,
    steps: [{ check: plain }, { check: plain }, { check: once("a") }, { check: once("a") }],
    expected: ["ok", "ok", "ok", "invalid_request"],
  },
  {
    name: "an unreadable block or revocation entry fails closed (503)",
    limit: "1/1s,burst=5",
    steps: [
      { setUp: () => redis.raw.set(redisKey("block", wl), "not json") },
      { check: plain },
      { setUp: () => redis.raw.del(redisKey("block", wl)) },
      { setUp: () => redis.raw.set(redisKey("workload", wl), JSON.stringify({ workloadId: wl })) },
      { check: plain },
    ],
    expected: ["temporarily_unavailable", "temporarily_unavailable"],
  },
];

describe("the issuance read in one round trip answers as the limiter and the store asked in turn (real redis-server)", () => {
  beforeEach(async () => {
    await redis.raw.flushall();
  });

  for (const scenario of scenarios) {
    it(scenario.name, async () => {
      const run = async (path: "inTurn" | "oneTrip") => {
        await redis.raw.flushall();
        const paths = await openPaths(redis.server.url, scenario.limit === undefined ? undefined : limit(scenario.limit));
        try {
          const outcomes: Outcome[] = [];
          for (const step of scenario.steps) {
            paths.clock.set(T0 + (step.at ?? 0));
            if ("setUp" in step) await step.setUp(paths);
            else outcomes.push(await outcome(paths[path], step.check));
          }
          return { outcomes, state: await snapshot(), limited: paths.limited() };
        } finally {
          await paths.close();
        }
      };
      const inTurn = await run("inTurn");
      const oneTrip = await run("oneTrip");
      expect(inTurn.outcomes.map(short)).toEqual(scenario.expected);
      expect(oneTrip).toEqual(inTurn);
    });
  }

  it("a single-use token of a blocked workload over its limit: the block is the answer, and the token is not used up", async () => {
    const paths = await openPaths(redis.server.url, limit("1/1s,burst=1"));
    try {
      expect(await outcome(paths.oneTrip, plain)).toEqual({ floor: undefined });
      await paths.store.blockWorkload({ ...meta, at: nowSeconds, workloadId: wl, until: undefined });
      // In turn, the limit is asked first and answers 429 before the block is read; read together,
      // the block (the operator's decision, which waiting will not change) outranks it.
      expect(await outcome(paths.oneTrip, once("a"))).toMatchObject({ error: "unauthorized_client" });
      expect(await redis.raw.exists(redisKey("once", "gha:a"))).toBe(0);
      await paths.store.unblockWorkload(wl);
      paths.clock.advance(1_000);
      expect(await outcome(paths.oneTrip, once("a"))).toEqual({ floor: undefined });
    } finally {
      await paths.close();
    }
  });

  it("works after the script cache is flushed (NOSCRIPT: loaded again with EVAL)", async () => {
    const paths = await openPaths(redis.server.url, limit("1/1s,burst=5"));
    try {
      await paths.store.blockWorkload({ ...meta, at: nowSeconds, workloadId: wl, until: undefined });
      expect(await outcome(paths.oneTrip, plain)).toMatchObject({ error: "unauthorized_client" });
      await redis.raw.script("FLUSH");
      expect(await outcome(paths.oneTrip, plain)).toMatchObject({ error: "unauthorized_client" });
    } finally {
      await paths.close();
    }
  });

  it("keeps a key no longer than the store's own: a long workload id is hashed as redisKey does", async () => {
    const paths = await openPaths(redis.server.url, limit("1/1s,burst=5"));
    const long = `spiffe://example.org/${"x".repeat(300)}`;
    try {
      await paths.store.blockWorkload({ ...meta, at: nowSeconds, workloadId: long, until: undefined });
      expect(await outcome(paths.oneTrip, { workloadId: long, replay: undefined })).toMatchObject({ error: "unauthorized_client" });
    } finally {
      await paths.close();
    }
  });
});

describe("the issuance read fails closed", () => {
  it("answers 503 within the client's bound when Redis is down, and nothing is issued", async () => {
    const own = await startRedisServer();
    const paths = await openPaths(own.url, limit("1/1s,burst=5"));
    try {
      expect(await outcome(paths.oneTrip, plain)).toEqual({ floor: undefined });
      await own.stop();
      const refused = await within(5_000, outcome(paths.oneTrip, once("a")));
      expect(refused).toMatchObject({ error: "temporarily_unavailable", retryAfterSeconds: 2 });
    } finally {
      await paths.close().catch(() => undefined);
    }
  });
});

describe("where the store cannot read an issuance in one trip", () => {
  it("a Redis Cluster has none: its keys live in several slots, and the broker asks in turn", async () => {
    const cluster = new Cluster([{ host: "127.0.0.1", port: 1 }], { lazyConnect: true });
    try {
      expect(redisIssuanceState(new RedisStoreCore(cluster, new ManualClock(T0)))).toBeUndefined();
    } finally {
      cluster.disconnect();
    }
  });
});

