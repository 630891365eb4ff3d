/**
 * Rate limits through the real HTTP layer (createApp + app.request(), real verifier, policies,
 * keys, CA and limiter; see harness.ts): 429 with Retry-After on /token and /svid/x509, the client
 * limit refusing before anything is read or verified, the workload limit keyed on the verified
 * identity, and failing closed when the limiter cannot answer.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { AuditEvent } from "../../src/audit/audit-event.js";
import { silentLog } from "../../src/lib/log.js";
import { RedisRateLimiter } from "../../src/redis/redis-rate-limiter.js";
import { createRedisClient, whenRedisReady } from "../../src/redis/redis-connection.js";
import { startRedisServer } from "../support/redis-server.js";
import { ACCESS_TOKEN_TYPE, startHarness, type RateLimitHarness } from "../support/rate-limit-harness.js";
import { readAnswer } from "../support/broker-http.js";
import { expectRefusal } from "../support/refusal.js";

let h: RateLimitHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function expectRateLimited(res: Response, retryAfter: string, description: RegExp): Promise<void> {
  const answer = await readAnswer(res);
  expectRefusal(answer, { status: 429, error: "temporarily_unavailable", description });
  expect(answer.headers.get("retry-after")).toBe(retryAfter);
  expect(Object.keys(answer.json).sort()).toEqual(["error", "error_description"]);
}

const rateLimitRecords = (audit: readonly AuditEvent[]) => audit.filter((event) => event.event === "rate_limit");

describe("client-address limit", () => {
  it("/token: 429 with Retry-After once the address's budget is spent, before the body is read or anything verified", async () => {
    h = await startHarness({ client: "1/1m,burst=2" });
    const address = "198.51.100.7";
    const token = await h.token("alice");
    // Two requests spend the burst, whatever they hold.
    expect((await h.request(address, "/token", { method: "POST", headers: { "content-type": "text/plain" }, body: "x" })).status).toBe(415);
    expect((await h.exchange(address, "not-a-jwt")).status).toBe(400);

    // A valid token now: refused, and the broker never asked the issuer for its keys.
    await expectRateLimited(await h.exchange(address, token), "60", /^rate limit exceeded for this client address; retry after 60 s$/);
    expect(h.issuer.requests.total).toBe(0);
    // Nor was the body looked at: a request the parser would refuse (415) gets the same 429.
    const unread = await h.request(address, "/token", { method: "POST", headers: { "content-type": "text/plain" }, body: "x" });
    expect(unread.status).toBe(429);
    expect(h.limited).toEqual(["client", "client"]);

    // One audit record per refusal, without any secret: there is no decision record for it.
    const records = rateLimitRecords(h.audit);
    expect(records).toHaveLength(2);
    expect(records[0]).toMatchObject({
      event: "rate_limit",
      endpoint: "/token",
      limit: "client",
      decision: "deny",
      error: "temporarily_unavailable",
      reason: "rate_limited: client limit 1/1m,burst=2",
      retryAfterSeconds: 60,
      clientAddress: address,
    });
    expect(JSON.stringify(h.audit)).not.toContain(token);
    expect(h.audit.filter((event) => event.event === "token_exchange")).toHaveLength(1); // the 400 only

    // Another address is not affected (and its exchange is what fetches the keys: the probe above can fail).
    expect((await h.exchange("198.51.100.8", token)).status).toBe(200);
    expect(h.issuer.requests.total).toBeGreaterThan(0);
    // The budget refills at the sustained rate: one request a minute.
    h.clock.advance(59_000);
    await expectRateLimited(await h.exchange(address, "not-a-jwt"), "1", /retry after 1 s/);
    h.clock.advance(1_000);
    expect((await h.exchange(address, "not-a-jwt")).status).toBe(400);
  });

  it("/svid/x509: 429 with Retry-After, on the same budget as /token", async () => {
    h = await startHarness({ client: "1/1m,burst=1" });
    expect((await h.exchange("192.0.2.10", "not-a-jwt")).status).toBe(400);
    await expectRateLimited(await h.svid("192.0.2.10", await h.token("alice")), "60", /client address/);
    expect(h.issuer.requests.total).toBe(0);
    expect(rateLimitRecords(h.audit)).toMatchObject([{ endpoint: "/svid/x509", clientAddress: "192.0.2.10" }]);
    expect(h.audit.filter((event) => event.event === "svid_issuance")).toHaveLength(0);
  });

  it("charges every IPv6 address of one /64 to one budget, and an IPv4-mapped address to its IPv4 one", async () => {
    h = await startHarness({ client: "1/1m,burst=1" });
    expect((await h.exchange("2001:db8:1:2::1", "not-a-jwt")).status).toBe(400);
    expect((await h.exchange("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "not-a-jwt")).status).toBe(429);
    expect((await h.exchange("2001:db8:1:3::1", "not-a-jwt")).status).toBe(400);
    expect((await h.exchange("203.0.113.5", "not-a-jwt")).status).toBe(400);
    expect((await h.exchange("::ffff:203.0.113.5", "not-a-jwt")).status).toBe(429);
  });
});

describe("workload limit", () => {
  it("is keyed on the verified workload: identities of one workload share it, other workloads and addresses do not matter", async () => {
    h = await startHarness({ workload: "1/1m,burst=2" });
    const first = await h.exchange("10.0.0.1", await h.token("alice"));
    expect(first.status).toBe(200);
    const brokerToken = ((await first.json()) as { access_token: string }).access_token;
    // alice-2 maps to the same workload (wl/shared): the second and last request of the burst.
    expect((await h.exchange("10.0.0.2", await h.token("alice-2"))).status).toBe(200);
    // From yet another address: still the same workload, still refused.
    await expectRateLimited(await h.exchange("10.0.0.3", await h.token("alice")), "60", /^rate limit exceeded for this workload; retry after 60 s$/);
    // bob is another workload, from the very same address.
    expect((await h.exchange("10.0.0.3", await h.token("bob"))).status).toBe(200);
    // Re-exchanging alice's broker token is issuance to wl/shared too (its `sub`): one budget.
    const reExchange = await h.exchange("10.0.0.1", brokerToken, { subject_token_type: ACCESS_TOKEN_TYPE });
    await expectRateLimited(reExchange, "60", /workload/);
    expect(h.limited).toEqual(["workload", "workload"]);

    // The decision record says who was refused and why; no separate rate_limit record.
    const denials = h.audit.filter((event) => event.event === "token_exchange" && event.decision === "deny");
    expect(denials).toHaveLength(2);
    expect(denials[0]).toMatchObject({ workloadId: "wl/shared", subject: "alice", policy: "shared", error: "temporarily_unavailable", reason: "rate_limited: workload limit 1/1m,burst=2" });
    expect(denials[1]).toMatchObject({ workloadId: "wl/shared", error: "temporarily_unavailable", reason: "rate_limited: workload limit 1/1m,burst=2" });
    expect(rateLimitRecords(h.audit)).toHaveLength(0);
  });

  it("/svid/x509: 429 with Retry-After for a workload over its limit, before anything is signed", async () => {
    h = await startHarness({ workload: "1/1m,burst=1" });
    expect((await h.svid("10.0.0.1", await h.token("bob"))).status).toBe(200);
    await expectRateLimited(await h.svid("10.0.0.1", await h.token("bob")), "60", /workload/);
    const records = h.audit.filter((event) => event.event === "svid_issuance");
    expect(records.map((event) => event.decision)).toEqual(["allow", "deny"]);
    expect(records[1]).toMatchObject({ workloadId: "wl/other", error: "temporarily_unavailable", reason: "rate_limited: workload limit 1/1m,burst=1" });
    expect(records[1]).not.toHaveProperty("serial");
    // Another workload is unaffected.
    expect((await h.svid("10.0.0.1", await h.token("alice"))).status).toBe(200);
  });

  it("does not use up a single-use subject token it refuses: the same token works once the budget refills", async () => {
    h = await startHarness({ workload: "1/1m,burst=1" });
    expect((await h.exchange("10.0.0.1", await h.onceIssuer.mint({ sub: "carol" }))).status).toBe(200);
    const second = await h.onceIssuer.mint({ sub: "carol" });
    expect((await h.exchange("10.0.0.1", second)).status).toBe(429);
    h.clock.advance(60_000);
    expect((await h.exchange("10.0.0.1", second)).status).toBe(200);
    // …and it is single-use all the same (once there is budget to reach that check).
    h.clock.advance(60_000);
    const replay = await h.exchange("10.0.0.1", second);
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ error: "invalid_request", error_description: "subject_token was already used" });
  });
});

describe("fail closed", () => {
  it("Redis cannot answer: the workload check refuses with 503 and Retry-After, audited; nothing is issued", async () => {
    const redis = await startRedisServer();
    const connection = createRedisClient(redis.url, { commandTimeoutMs: 200, connectTimeoutMs: 500, log: silentLog });
    try {
      await whenRedisReady(connection, 5_000);
      h = await startHarness({ client: "100/1s", workload: "100/1s", limiter: (clock) => new RedisRateLimiter(connection, clock) });
      expect((await h.exchange("10.0.0.1", await h.token("alice"))).status).toBe(200);

      await redis.kill();
      const token = await h.token("alice");
      const res = await h.exchange("10.0.0.1", token);
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("2");
      expect(await res.json()).toEqual({ error: "temporarily_unavailable", error_description: "the rate limiter is unavailable; retry shortly" });
      const svid = await h.svid("10.0.0.1", await h.token("bob"));
      expect(svid.status).toBe(503);
      expect(svid.headers.get("retry-after")).toBe("2");

      // Each refusal is in the request's own decision record, with the token's digest.
      const denials = h.audit.filter((event) => "decision" in event && event.decision === "deny");
      expect(denials).toMatchObject([
        { event: "token_exchange", workloadId: "wl/shared", error: "temporarily_unavailable" },
        { event: "svid_issuance", workloadId: "wl/other", error: "temporarily_unavailable" },
      ]);
      expect(denials[0]).toHaveProperty("subjectTokenSha256");
      expect(h.audit.filter((event) => "decision" in event && event.decision === "allow")).toHaveLength(1);
      expect(h.limited).toEqual([]);
    } finally {
      connection.disconnect();
      await redis.stop();
    }
  });

  it("the client check defers to those checks rather than refusing unread requests: garbage still gets its 400", async () => {
    const redis = await startRedisServer();
    const connection = createRedisClient(redis.url, { commandTimeoutMs: 200, connectTimeoutMs: 500, log: silentLog });
    try {
      await whenRedisReady(connection, 5_000);
      h = await startHarness({ client: "1/1h,burst=1", workload: "100/1s", limiter: (clock) => new RedisRateLimiter(connection, clock) });
      await redis.kill();
      // Over the client budget or not, the limiter cannot say: the request is read and judged on its own.
      for (let i = 0; i < 3; i++) {
        const res = await h.exchange("10.0.0.1", "not-a-jwt");
        expect(res.status).toBe(400);
      }
      expect((await h.exchange("10.0.0.1", await h.token("alice"))).status).toBe(503);
      expect(rateLimitRecords(h.audit)).toHaveLength(0);
    } finally {
      connection.disconnect();
      await redis.stop();
    }
  });
});
