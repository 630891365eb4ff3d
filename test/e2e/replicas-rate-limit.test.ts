/**
 * Two real broker processes, A and B, sharing one real redis-server: a rate limit is one budget
 * whichever replica a request reaches. Black-box over HTTP (plus a raw Redis connection to read the
 * key layout), in numbered steps that build on each other:
 *
 *   1. the workload limit (burst 3): requests split A, B, A use it up; B refuses the fourth;
 *   2. the client-address limit (burst 20, one budget for 127.0.0.1): the rest of it is spent
 *      across A and B, then both refuse; audit records and metrics on each replica;
 *   3. Redis killed: nothing is issued (503 with Retry-After, audited); the client check defers
 *      to the checks that need Redis anyway, so unread garbage still gets its 400.
 *
 * Both limits refill at one request an hour, so nothing refills during the test.
 */
import { createHash } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rateLimitKey } from "../../src/redis/redis-rate-limiter.js";
import { eventually, GRANTS, OIDC_SUBJECT, type BrokerFixture, type BrokerResponse } from "../support/broker-fixture.js";
import type { BrokerProcess } from "../support/broker-process.js";
import type { RedisServerHandle } from "../support/redis-server.js";
import type { ReplicaClient } from "../support/replica-client.js";
import { standaloneRedis, startReplicaPair, type ReplicaPair } from "../support/replica-pair.js";
import { expectRefusal } from "../support/refusal.js";
import { githubActionsClaims } from "../support/test-issuer.js";

const CLIENT_BURST = 20;
const WORKLOAD_BURST = 3;
const HOUR = 3600;

let pair: ReplicaPair<RedisServerHandle>;
let redis: RedisServerHandle;
let fx: BrokerFixture;
let brokerB: BrokerProcess;
let a: ReplicaClient;
let b: ReplicaClient;
/** Requests sent so far from this process (127.0.0.1): each one is charged to the client budget. */
let sent = 0;

beforeAll(async () => {
  pair = await startReplicaPair({
    redis: standaloneRedis(),
    // No /readyz polling: every request from this process is charged to the client budget.
    waitReady: false,
    env: {
      BROKER_REDIS_COMMAND_TIMEOUT_MS: "300",
      BROKER_REDIS_CONNECT_TIMEOUT_MS: "1000",
      BROKER_RATE_LIMIT_CLIENT: `1/1h,burst=${CLIENT_BURST}`,
      BROKER_RATE_LIMIT_WORKLOAD: `1/1h,burst=${WORKLOAD_BURST}`,
    },
  });
  ({ redis, fx, brokerB, a, b } = pair);
});
afterAll(async () => {
  await pair?.close();
});

async function exchange(replica: ReplicaClient, form: Record<string, string>): Promise<BrokerResponse> {
  sent += 1;
  return replica.exchange(form);
}

const oidcForm = async () => ({ ...fx.form(await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT })), audience: GRANTS.oidc.audiences[0] });
const githubForm = async () => ({ ...fx.form(await fx.issuers.github.mint(githubActionsClaims(), { alg: "RS256" })), audience: GRANTS.github.audiences[0] });

function expectRateLimited(res: BrokerResponse, description: RegExp): void {
  expectRefusal(res, { status: 429, error: "temporarily_unavailable", description });
  // About an hour: the next request fits once one interval has passed.
  const retryAfter = Number(res.headers.get("retry-after"));
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThan(HOUR - 120);
  expect(retryAfter).toBeLessThanOrEqual(HOUR);
}

function audits(broker: BrokerProcess): Record<string, unknown>[] {
  return broker
    .logRecords()
    .filter((record) => record.channel === "audit")
    .map((record) => record.audit as Record<string, unknown>);
}

async function rateLimitedCount(replica: ReplicaClient, limit: "client" | "workload"): Promise<number> {
  const res = await replica.get("/metrics");
  const line = res.text.split("\n").find((text) => text.startsWith(`broker_rate_limited_total{limit="${limit}"}`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe("rate limits shared by two replicas through Redis", () => {
  it("1. the workload limit: A, B, A use up the burst; B refuses the fourth, and only that workload", async () => {
    expect((await exchange(a, await oidcForm())).status).toBe(200);
    expect((await exchange(b, await oidcForm())).status).toBe(200);
    expect((await exchange(a, await oidcForm())).status).toBe(200);
    expectRateLimited(await exchange(b, await oidcForm()), /^rate limit exceeded for this workload; retry after \d+ s$/);
    expectRateLimited(await exchange(a, await oidcForm()), /workload/);
    expect((await exchange(b, await githubForm())).status).toBe(200);

    const denial = audits(brokerB).find((event) => event.event === "token_exchange" && event.decision === "deny");
    expect(denial).toMatchObject({ workloadId: GRANTS.oidc.workloadId, error: "temporarily_unavailable", reason: `rate_limited: workload limit 1/1h,burst=${WORKLOAD_BURST}` });
    expect(await rateLimitedCount(a, "workload")).toBe(1);
    expect(await rateLimitedCount(b, "workload")).toBe(1);

    // One key per budget, hashed and namespaced.
    const raw = new Redis(redis.url, { maxRetriesPerRequest: 0 });
    try {
      const keys = await raw.keys("broker:rl:*");
      expect(keys).toContain(rateLimitKey({ kind: "client", id: "127.0.0.1" }));
      expect(keys).toContain(rateLimitKey({ kind: "workload", id: GRANTS.oidc.workloadId }));
      expect(keys).toContain(rateLimitKey({ kind: "workload", id: GRANTS.github.workloadId }));
      expect(keys).toHaveLength(3);
    } finally {
      raw.disconnect();
    }
  });

  it("2. the client-address limit: the rest of 127.0.0.1's burst is spent across A and B, then both refuse", async () => {
    const left = CLIENT_BURST - sent;
    expect(left).toBeGreaterThan(2);
    for (let i = 0; i < left; i++) {
      const res = await exchange(i % 2 === 0 ? a : b, fx.form("not-a-jwt"));
      expect(res.status, `request ${sent}: ${res.text}`).toBe(400);
    }
    expectRateLimited(await exchange(a, fx.form("not-a-jwt")), /^rate limit exceeded for this client address; retry after \d+ s$/);
    expectRateLimited(await exchange(b, await githubForm()), /client address/);

    for (const broker of [fx.broker, brokerB]) {
      const records = audits(broker).filter((event) => event.event === "rate_limit");
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({ endpoint: "/token", limit: "client", decision: "deny", reason: `rate_limited: client limit 1/1h,burst=${CLIENT_BURST}`, clientAddress: "127.0.0.1" });
    }
    expect(await rateLimitedCount(a, "client")).toBe(1);
    expect(await rateLimitedCount(b, "client")).toBe(1);
  });

  it("3. Redis killed: nothing is issued on either replica (503 with Retry-After, audited); unread garbage is judged on its own", async () => {
    await redis.kill();
    for (const [replica, broker] of [[a, fx.broker], [b, brokerB]] as const) {
      const form: Record<string, string> = await githubForm();
      const res = await replica.exchange(form);
      expect(res.status, res.text).toBe(503);
      expect(res.json.error).toBe("temporarily_unavailable");
      expect(res.headers.get("retry-after")).toMatch(/^[1-9]\d*$/);
      const digest = createHash("sha256").update(form.subject_token ?? "").digest("hex");
      await eventually(() => audits(broker).some((event) => event.subjectTokenSha256 === digest), 5_000, "the refusal audited");
      expect(audits(broker).find((event) => event.subjectTokenSha256 === digest)).toMatchObject({ decision: "deny", error: "temporarily_unavailable" });
      // The client budget is spent, but the limiter cannot say so: the check defers to the ones above.
      expect((await replica.exchange(fx.form("not-a-jwt"))).status).toBe(400);
    }
  });
});
