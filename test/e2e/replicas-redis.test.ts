/**
 * Two real broker processes, A and B, sharing one real redis-server (AOF on, noeviction), both
 * signing with the same keys and the same issuer URL (A's), so a token from either verifies on
 * both. Black-box, over HTTP only (plus a raw Redis connection to read key expiries):
 *
 *   1. revoke a workload through A → B's very next request honours it; plain revocation vs block;
 *      lifting the block through B lets A issue again; revoked tokens stay revoked;
 *   2. revoke by jti through A, by the holder (RFC 7009) through B; both list the same entries;
 *      every entry carries a Redis expiry bounded by the lifetime cap + grace;
 *   3. ~20 concurrent exchanges of one single-use subject token across A and B: exactly one wins;
 *   4. Redis killed: 503 temporarily_unavailable + Retry-After within a bound, nothing issued, never
 *      active: true, not ready; Redis restarted (same port, AOF): both recover without a restart
 *      and every revocation and block is still in force;
 *   5. a replica started while Redis is down starts, fails closed, and becomes ready with Redis.
 *
 * The steps run in order and build on each other's state (one pair of brokers, one Redis).
 * Propagation times (A's acknowledgement → B's first answer) are printed, never asserted on.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redisKey } from "../../src/redis/redis-revocation-store.js";
import { decodeSegment, eventually, GRANTS, OIDC_SUBJECT, type BrokerFixture, type BrokerResponse, type IssuerEntry } from "../support/broker-fixture.js";
import type { BrokerProcess } from "../support/broker-process.js";
import type { RedisServerHandle } from "../support/redis-server.js";
import { elapsedMs, exchangeAudits, replicaClient, sha256Hex, sortedListing, type ReplicaClient } from "../support/replica-client.js";
import { standaloneRedis, startReplicaPair, type ReplicaPair } from "../support/replica-pair.js";
import { expectRefusal } from "../support/refusal.js";
import { githubActionsClaims, gitlabCiClaims, kubernetesClaims, spiffeClaims } from "../support/test-issuer.js";

const ADMIN_SECRET = "replicas-e2e-admin-secret-0123456789-abcdefghij";
/** BROKER_MAX_TOKEN_LIFETIME=15m in the fixture. */
const CAP_SECONDS = 900;
/** Redis keeps an entry this long past its expiry (RedisRevocationStore's default expiryGraceSeconds). */
const GRACE_SECONDS = 60;
/** A request to a replica whose Redis is gone must complete within this (a bounded wait, not a speed test). */
const OUTAGE_BOUND_MS = 3_000;
/** How long recovery after a Redis restart may take before the test gives up. */
const RECOVERY_DEADLINE_MS = 20_000;

const SINGLE_USE_SUBJECT = "ci-job";
const SINGLE_USE_WORKLOAD = "ci/single-use";
const SINGLE_USE_AUDIENCE = "https://ci.example.com";

let pair: ReplicaPair<RedisServerHandle>;
let redis: RedisServerHandle;
let fx: BrokerFixture;
let brokerB: BrokerProcess;
let a: ReplicaClient;
let b: ReplicaClient;
/** A broker token with scope broker:introspect and aud = the broker, for /introspect on either replica. */
let introspector: string;
/** Measured propagation times, printed at the end for the lead to quote. */
const propagation: { what: string; ms: number }[] = [];
const outage: { what: string; ms: number }[] = [];

beforeAll(async () => {
  pair = await startReplicaPair({
    redis: standaloneRedis(),
    introspector: true,
    env: {
      BROKER_ADMIN_SECRET: ADMIN_SECRET,
      BROKER_REDIS_COMMAND_TIMEOUT_MS: "300",
      BROKER_REDIS_CONNECT_TIMEOUT_MS: "1000",
    },
    extraIssuers: 1,
    extraEntries: (extra): IssuerEntry[] => [
      {
        id: "single-use",
        issuer: extra[0]?.url ?? "",
        profile: "oidc",
        keys: { discovery: true },
        algorithms: ["ES256"],
        replay_protection: true,
      },
    ],
    policies: () => ({
      "single-use.policy.yaml": {
        id: "e2e-single-use",
        issuer: "single-use",
        condition: `identity.subject == "${SINGLE_USE_SUBJECT}"`,
        grant: { workload_id: SINGLE_USE_WORKLOAD, audiences: [SINGLE_USE_AUDIENCE], max_lifetime: "5m" },
      },
    }),
  });
  ({ redis, fx, brokerB, a, b, introspector } = pair);
}, 60_000);

afterAll(async () => {
  if (propagation.length > 0) {
    const times = propagation.map((sample) => sample.ms).sort((x, y) => x - y);
    const median = times[Math.floor(times.length / 2)] ?? 0;
    console.log(
      `[replicas-redis] propagation A's ack → B's first answer (ms): n=${times.length} min=${times[0]} median=${median} max=${times.at(-1)}\n` +
        propagation.map((sample) => `  ${sample.what}: ${sample.ms} ms`).join("\n"),
    );
  }
  if (outage.length > 0) console.log(`[replicas-redis] answers with Redis down (ms):\n${outage.map((sample) => `  ${sample.what}: ${sample.ms} ms`).join("\n")}`);
  await pair?.close();
}, 30_000);

// ---------------------------------------------------------------------------------------------
// helpers

function accessToken(res: BrokerResponse): string {
  expect(res.status, res.text).toBe(200);
  expect(typeof res.json.access_token).toBe("string");
  return res.json.access_token as string;
}

/** 503 temporarily_unavailable with a positive integer Retry-After, and nothing issued. */
function expectUnavailable(res: BrokerResponse): void {
  expectRefusal(res, { status: 503, error: "temporarily_unavailable" });
  expect(res.headers.get("retry-after")).toMatch(/^[1-9]\d*$/);
  expect(res.json).not.toHaveProperty("active");
}

const payload = (token: string): Record<string, unknown> => decodeSegment(token, 1);
const jtiOf = (token: string): string => payload(token).jti as string;

async function active(replica: ReplicaClient, token: string): Promise<boolean> {
  const res = await replica.introspect(token, introspector);
  expect(res.status, res.text).toBe(200);
  if (res.json.active === false) expect(res.json).toEqual({ active: false });
  return res.json.active === true;
}

const githubForm = async (): Promise<Record<string, string>> => ({
  ...fx.form(await fx.issuers.github.mint(githubActionsClaims(), { alg: "RS256" })),
  audience: GRANTS.github.audiences[0],
  scope: "deploy:read",
});
const kubernetesForm = async (): Promise<Record<string, string>> => ({ ...fx.form(await fx.issuers.kubernetes.mint(kubernetesClaims())), audience: GRANTS.kubernetes.audiences[0] });
const gitlabForm = async (): Promise<Record<string, string>> => ({ ...fx.form(await fx.issuers.gitlab.mint(gitlabCiClaims(), { alg: "RS256" })), audience: GRANTS.gitlab.audiences[0] });
const spiffeForm = async (): Promise<Record<string, string>> => ({ ...fx.form(await fx.issuers.spiffe.mint(spiffeClaims(), { header: { typ: "JWT" } })), audience: GRANTS.spiffe.audiences[0] });
const oidcForm = async (): Promise<Record<string, string>> => ({ ...fx.form(await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT })), audience: GRANTS.oidc.audiences[0] });

const revokeWorkload = (replica: ReplicaClient, body: Record<string, unknown>) => replica.admin("POST", "/admin/revocations/workloads", ADMIN_SECRET, body);
const revokeJti = (replica: ReplicaClient, jti: string, reason: string) => replica.admin("POST", "/admin/revocations/tokens", ADMIN_SECRET, { jti, reason });
const listing = async (replica: ReplicaClient) => {
  const res = await replica.admin("GET", "/admin/revocations", ADMIN_SECRET);
  expect(res.status, res.text).toBe(200);
  return sortedListing(res.json);
};

/** Polls (every 20 ms, bounded) until `replica` issues a token again: recovery times are printed. */
async function issuesAgain(replica: ReplicaClient): Promise<void> {
  const deadline = performance.now() + RECOVERY_DEADLINE_MS;
  while ((await replica.exchange(await gitlabForm())).status !== 200) {
    if (performance.now() > deadline) throw new Error(`${replica.name} does not issue ${RECOVERY_DEADLINE_MS} ms after Redis came back`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits (bounded) until the wall clock is past `epochSeconds`, so a new credential's iat is after it. */
const afterSecond = (epochSeconds: number) => eventually(() => Date.now() / 1000 >= epochSeconds + 1, 3_000, `clock past ${epochSeconds}`);

/** `broker_time_to_revoke_seconds` of one cause on one replica: its count and sum (0 when absent). */
async function timeToRevoke(replica: ReplicaClient, cause: string): Promise<{ count: number; sum: number }> {
  const text = (await replica.get("/metrics")).text;
  const value = (suffix: string): number => {
    const line = text.split("\n").find((each) => each.startsWith(`broker_time_to_revoke_seconds_${suffix}{cause="${cause}"}`));
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
  };
  return { count: value("count"), sum: value("sum") };
}

/** How many store calls of `operation` a replica made, by outcome "ok". */
async function storeCalls(replica: ReplicaClient, operation: string): Promise<number> {
  const text = (await replica.get("/metrics")).text;
  const line = text.split("\n").find((each) => each.startsWith(`broker_revocation_store_operations_total{operation="${operation}",outcome="ok"}`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}

// Tokens made in earlier steps that must stay revoked through the Redis outage (step 4).
const mustStayRevoked: string[] = [];

// ---------------------------------------------------------------------------------------------

describe("two broker replicas sharing one Redis", () => {
  it("1. revoke by workload through A: B's very next request honours it; plain revocation vs block; lifting the block through B", async () => {
    const workload = GRANTS.github.workloadId;
    // 1.1 A issues a token to the workload; B sees it active (and accepts it for re-exchange: same keys and issuer).
    const old = accessToken(await a.exchange(await githubForm()));
    expect(await active(b, old)).toBe(true);
    accessToken(await b.reExchange(old, GRANTS.github.audiences[0]));

    // 1.2 Revoke the workload through A; B's very next request (an introspection) says inactive.
    const revoked = await revokeWorkload(a, { workload_id: workload, reason: "replica test: compromised" });
    const acked = performance.now();
    expect(revoked.status, revoked.text).toBe(201);
    const first = await b.introspect(old, introspector);
    propagation.push({ what: "workload revocation → B introspect", ms: elapsedMs(acked) });
    expect(first.status, first.text).toBe(200);
    expect(first.json).toEqual({ active: false });
    const revokedAt = (revoked.json.revocation as Record<string, number>).revoked_at as number;
    expect(revoked.json).not.toHaveProperty("block");

    // 1.3 B refuses to re-exchange the old token; A too.
    expectRefusal(await b.reExchange(old, GRANTS.github.audiences[0]), { status: 400, error: "invalid_request", description: "subject_token has been revoked" });
    expectRefusal(await a.reExchange(old, GRANTS.github.audiences[0]), { status: 400, error: "invalid_request", description: "subject_token has been revoked" });
    // Each replica timed the revocation it was told of by the store, once: from A's recorded instant to its own first refusal.
    for (const replica of [a, b]) {
      const timed = await timeToRevoke(replica, "workload");
      expect(timed.count, replica.name).toBe(1);
      expect(timed.sum, replica.name).toBeGreaterThanOrEqual(0);
      expect(timed.sum, replica.name).toBeLessThan(30);
      propagation.push({ what: `workload revocation → first refusal on ${replica.name} (broker_time_to_revoke_seconds)`, ms: Math.round(timed.sum * 1000) });
    }

    // 1.4 A plain revocation covers credentials issued at or before its instant only: once the clock
    //     is past it, a new exchange (on B) succeeds and its token is active on A.
    await afterSecond(revokedAt);
    const fresh = accessToken(await b.exchange(await githubForm()));
    expect(payload(fresh).iat as number).toBeGreaterThan(revokedAt);
    expect(await active(a, fresh)).toBe(true);
    expect(await active(a, old)).toBe(false);

    // 1.5 Revoke and block through A: B's very next exchange is refused with unauthorized_client.
    const blocked = await revokeWorkload(a, { workload_id: workload, reason: "replica test: retire", block: true });
    const blockAcked = performance.now();
    expect(blocked.status, blocked.text).toBe(201);
    const refused = await b.exchange(await githubForm());
    propagation.push({ what: "workload block → B exchange refused", ms: elapsedMs(blockAcked) });
    expectRefusal(refused, { status: 400, error: "unauthorized_client", description: "issuance to this workload is blocked" });
    expect(blocked.json.block).toMatchObject({ workload_id: workload, until: null, actor: "bootstrap-admin", reason: "replica test: retire" });
    expectRefusal(await a.exchange(await githubForm()), { status: 400, error: "unauthorized_client" });
    expect((await timeToRevoke(b, "block")).count).toBe(1);
    // On standalone Redis every exchange asked the store in one script (redis-issuance-state.ts),
    // not read by read: the block refusals above came from that read.
    for (const replica of [a, b]) {
      expect(await storeCalls(replica, "issuanceState"), replica.name).toBeGreaterThanOrEqual(2);
      expect(await storeCalls(replica, "workloadRevocation"), replica.name).toBe(0);
    }
    // The fresh token was issued before this second revocation: now inactive on both.
    expect(await active(b, fresh)).toBe(false);
    expect(await active(a, fresh)).toBe(false);

    // 1.6 Lift the block through B: A's very next exchange succeeds.
    const lifted = await b.admin("DELETE", `/admin/blocks/${encodeURIComponent(workload)}?reason=replica%20test%20lift`, ADMIN_SECRET);
    const liftAcked = performance.now();
    expect(lifted.status, lifted.text).toBe(204);
    const reissued = await a.exchange(await githubForm());
    propagation.push({ what: "unblock via B → A exchange allowed", ms: elapsedMs(liftAcked) });
    accessToken(reissued);
    expect((await b.admin("DELETE", `/admin/blocks/${encodeURIComponent(workload)}`, ADMIN_SECRET)).status).toBe(404);

    // 1.7 Revoked tokens stay revoked after the lift, on both replicas.
    for (const replica of [a, b]) {
      expect(await active(replica, old)).toBe(false);
      expect(await active(replica, fresh)).toBe(false);
      expectRefusal(await replica.reExchange(old, GRANTS.github.audiences[0]), { status: 400, error: "invalid_request", description: "subject_token has been revoked" });
    }
    mustStayRevoked.push(old, fresh);
  });

  it("2. revoke by jti through A and by the holder through B; both replicas list the same entries; every entry expires", async () => {
    // 2.1 Two tokens of one workload; revoke one by jti through A; B's next request says inactive.
    const revokedOne = accessToken(await a.exchange(await kubernetesForm()));
    const otherOne = accessToken(await a.exchange(await kubernetesForm()));
    const revoked = await revokeJti(a, jtiOf(revokedOne), "replica test: leaked in a log");
    const acked = performance.now();
    expect(revoked.status, revoked.text).toBe(201);
    const first = await b.introspect(revokedOne, introspector);
    propagation.push({ what: "jti revocation → B introspect", ms: elapsedMs(acked) });
    expect(first.json).toEqual({ active: false });
    expect(await active(b, otherOne)).toBe(true);
    expectRefusal(await b.reExchange(revokedOne, GRANTS.kubernetes.audiences[0]), { status: 400, error: "invalid_request", description: "subject_token has been revoked" });

    // 2.2 More samples of the propagation, each B's first request after A's acknowledgement.
    for (let sample = 1; sample <= 8; sample += 1) {
      const token = accessToken(await a.exchange(await kubernetesForm()));
      const res = await revokeJti(a, jtiOf(token), `replica test: sample ${sample}`);
      const at = performance.now();
      expect(res.status, res.text).toBe(201);
      const answer = await b.introspect(token, introspector);
      propagation.push({ what: `jti revocation sample ${sample} → B introspect`, ms: elapsedMs(at) });
      expect(answer.json).toEqual({ active: false });
      mustStayRevoked.push(token);
    }

    // 2.3 The holder revokes its own token through B (RFC 7009); A's next request says inactive.
    const holderRevoked = await b.revoke(otherOne);
    const holderAcked = performance.now();
    expect(holderRevoked.status, holderRevoked.text).toBe(200);
    expect(holderRevoked.text).toBe("");
    const onA = await a.introspect(otherOne, introspector);
    propagation.push({ what: "RFC 7009 revoke via B → A introspect", ms: elapsedMs(holderAcked) });
    expect(onA.json).toEqual({ active: false });
    mustStayRevoked.push(revokedOne, otherOne);

    // 2.4 Either replica lists the same entries, including these two.
    const fromA = await listing(a);
    const fromB = await listing(b);
    expect(fromB).toEqual(fromA);
    expect(fromA.tokens).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ jti: jtiOf(revokedOne), actor: "bootstrap-admin", reason: "replica test: leaked in a log" }),
        expect.objectContaining({ jti: jtiOf(otherOne), actor: GRANTS.kubernetes.workloadId, reason: "revoked by holder (RFC 7009)", expires_at: payload(otherOne).exp }),
      ]),
    );
    expect(fromA.workloads).toEqual([expect.objectContaining({ workload_id: GRANTS.github.workloadId, reason: "replica test: retire" })]);
    expect(fromA.blocks).toEqual([]);

    // 2.5 Entries expire: every revocation key carries a Redis expiry, after now and no later than
    //     the lifetime cap + grace; each is exactly the entry's expires_at + grace. Read, not waited for.
    const raw = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      const now = Math.floor(Date.now() / 1000);
      const bound = now + CAP_SECONDS + GRACE_SECONDS + 1;
      const expiries = new Map<string, number>();
      for (const pattern of ["broker:rev:*", "broker:once:*", "broker:block:*"]) {
        for (const key of await raw.keys(pattern)) expiries.set(key, await raw.expiretime(key));
      }
      expect(expiries.size).toBeGreaterThan(0);
      for (const [key, expiry] of expiries) {
        expect(expiry, `${key} has no expiry`).toBeGreaterThan(now);
        expect(expiry, `${key} expires too late`).toBeLessThanOrEqual(bound);
        expect(await raw.ttl(key)).toBeGreaterThan(0);
      }
      for (const entry of fromA.tokens as { jti: string; expires_at: number }[]) {
        expect(expiries.get(redisKey("jti", entry.jti))).toBe(entry.expires_at + GRACE_SECONDS);
      }
      for (const entry of fromA.workloads as { workload_id: string; expires_at: number }[]) {
        expect(entry.expires_at).toBeLessThanOrEqual(now + CAP_SECONDS);
        expect(expiries.get(redisKey("workload", entry.workload_id))).toBe(entry.expires_at + GRACE_SECONDS);
      }
    } finally {
      await raw.quit();
    }
  });

  it("3. ~20 concurrent exchanges of one single-use subject token across A and B: exactly one succeeds", async () => {
    const subject = await fx.extra[0]?.mint({ sub: SINGLE_USE_SUBJECT });
    if (subject === undefined) throw new Error("no single-use issuer");
    const form = { ...fx.form(subject), audience: SINGLE_USE_AUDIENCE };
    const attempts = 20;
    const results = await Promise.all(Array.from({ length: attempts }, (_, index) => (index % 2 === 0 ? a : b).exchange(form)));

    const allowed = results.filter((res) => res.status === 200);
    expect(allowed, results.map((res) => `${res.status} ${res.text}`).join("\n")).toHaveLength(1);
    for (const res of results.filter((res) => res.status !== 200)) expectRefusal(res, { status: 400, error: "invalid_request", description: "subject_token was already used" });
    expect(payload(accessToken(allowed[0] as BrokerResponse)).sub).toBe(SINGLE_USE_WORKLOAD);

    // The audit logs of A and B together: one record per attempt, exactly one allow.
    const digest = sha256Hex(subject);
    const records = () => [...exchangeAudits(fx.broker, digest), ...exchangeAudits(brokerB, digest)];
    await eventually(() => records().length >= attempts, 5_000, "every attempt audited");
    expect(records()).toHaveLength(attempts);
    expect(records().filter((record) => record.decision === "allow")).toHaveLength(1);
    const denials = records().filter((record) => record.decision === "deny");
    expect(denials).toHaveLength(attempts - 1);
    for (const denial of denials) expect(denial.error).toBe("invalid_request");
    // Both replicas took part (the split was real).
    expect(exchangeAudits(fx.broker, digest)).toHaveLength(attempts / 2);
    expect(exchangeAudits(brokerB, digest)).toHaveLength(attempts / 2);

    // A later replay on either replica is refused too.
    expectRefusal(await b.exchange(form), { status: 400, error: "invalid_request", description: "subject_token was already used" });
    mustStayRevoked.push(subject);
  });

  it("4. Redis killed mid-run: 503 within the bound and nothing issued; restarted: both recover without a restart, every revocation and block still in force", async () => {
    // 4.1 Before the kill: one more jti revocation, a workload revocation with a block until lifted,
    //     a block until a time, and a live token that must stay active.
    const live = accessToken(await b.exchange(await gitlabForm()));
    const jtiRevoked = accessToken(await a.exchange(await oidcForm()));
    expect((await revokeJti(b, jtiOf(jtiRevoked), "replica test: before the kill")).status).toBe(201);
    const spiffeToken = accessToken(await a.exchange(await spiffeForm()));
    expect((await revokeWorkload(b, { workload_id: GRANTS.spiffe.workloadId, reason: "replica test: blocked before the kill", block: true })).status).toBe(201);
    const until = Math.floor(Date.now() / 1000) + 3600;
    expect((await revokeWorkload(a, { workload_id: GRANTS.oidc.workloadId, reason: "replica test: timed block", block: true, block_until: until })).status).toBe(201);
    mustStayRevoked.push(jtiRevoked, spiffeToken);
    const before = await listing(a);
    expect(before.blocks).toHaveLength(2);
    // A block until lifted has no Redis expiry; a block until a time expires at that time + grace.
    const raw = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      expect(await raw.expiretime(redisKey("block", GRANTS.spiffe.workloadId))).toBe(-1);
      expect(await raw.expiretime(redisKey("block", GRANTS.oidc.workloadId))).toBe(until + GRACE_SECONDS);
    } finally {
      await raw.quit();
    }

    // 4.2 Kill Redis (SIGKILL). Two rounds on each replica (the second while it reconnects).
    await redis.kill();
    const refusedSubjects: string[] = [];
    for (const round of [1, 2]) {
      for (const replica of [a, b]) {
        const exchangeForm = await gitlabForm();
        refusedSubjects.push(exchangeForm.subject_token ?? "");
        const bounded = () => AbortSignal.timeout(OUTAGE_BOUND_MS);
        let start = performance.now();
        const exchanged = await replica.exchange(exchangeForm, bounded());
        outage.push({ what: `round ${round} ${replica.name} /token`, ms: elapsedMs(start) });
        expectUnavailable(exchanged);

        expectUnavailable(await replica.reExchange(live, GRANTS.gitlab.audiences[0], bounded()));

        start = performance.now();
        const introspected = await replica.introspect(live, introspector, bounded());
        outage.push({ what: `round ${round} ${replica.name} /introspect`, ms: elapsedMs(start) });
        expectUnavailable(introspected);
        expectUnavailable(await replica.introspect(jtiRevoked, introspector, bounded()));

        // A revocation is not acknowledged while Redis cannot take it (admin API and RFC 7009).
        expectUnavailable(await revokeJti(replica, "not-acknowledged", "replica test: during the outage"));
        expectUnavailable(await replica.revoke(live, bounded()));

        const ready = await replica.get("/readyz", bounded());
        expect(ready.status, ready.text).toBe(503);
        expect(ready.json.status).toBe("not ready");
        expect((ready.json.checks as Record<string, { ok: boolean }>).revocation_store?.ok).toBe(false);
      }
    }
    // Nothing was issued for any of those subject tokens: each audited as a temporarily_unavailable denial.
    for (const subject of refusedSubjects) {
      const digest = sha256Hex(subject);
      const records = () => [...exchangeAudits(fx.broker, digest), ...exchangeAudits(brokerB, digest)];
      await eventually(() => records().length === 1, 5_000, "the refused exchange audited");
      expect(records()[0]).toMatchObject({ decision: "deny", error: "temporarily_unavailable" });
    }

    // 4.3 Restart Redis on the same port and directory (AOF): both replicas recover by themselves.
    await redis.restart();
    const recoveryStart = performance.now();
    await Promise.all(
      [a, b].map(async (replica) => {
        await issuesAgain(replica);
        outage.push({ what: `restart → ${replica.name} issues again`, ms: elapsedMs(recoveryStart) });
      }),
    );
    for (const replica of [a, b]) {
      // Ready FAILED_CALL_HOLD_MS (2 s) after its last failed request (store-readiness.ts).
      await eventually(async () => (await replica.get("/readyz")).status === 200, RECOVERY_DEADLINE_MS, `${replica.name} ready again`);
    }
    outage.push({ what: "restart → both replicas ready", ms: elapsedMs(recoveryStart) });

    // 4.4 Every revocation and block made before the kill is still in force, on both replicas.
    expect(await listing(a)).toEqual(before);
    expect(await listing(b)).toEqual(before);
    for (const replica of [a, b]) {
      for (const token of mustStayRevoked.filter((token) => payload(token).iss === fx.url)) {
        expect(await active(replica, token), `${jtiOf(token)} on ${replica.name}`).toBe(false);
      }
      expect(await active(replica, live)).toBe(true);
      expectRefusal(await replica.exchange(await spiffeForm()), { status: 400, error: "unauthorized_client", description: "issuance to this workload is blocked" });
      expectRefusal(await replica.exchange(await oidcForm()), { status: 400, error: "unauthorized_client", description: "issuance to this workload is blocked" });
      // The single-use token of step 3 is still spent.
      for (const token of mustStayRevoked.filter((token) => payload(token).iss !== fx.url)) {
        expectRefusal(await replica.exchange({ ...fx.form(token), audience: SINGLE_USE_AUDIENCE }), { status: 400, error: "invalid_request", description: "subject_token was already used" });
      }
    }
  }, 90_000);

  it("4b. Redis stalled (SIGSTOP, connections open): each replica answers 503 within the bound, and recovers on SIGCONT", async () => {
    const live = accessToken(await a.exchange(await gitlabForm()));
    redis.pause();
    try {
      for (const replica of [a, b]) {
        let start = performance.now();
        const exchanged = await replica.exchange(await gitlabForm(), AbortSignal.timeout(OUTAGE_BOUND_MS));
        outage.push({ what: `stalled ${replica.name} /token`, ms: elapsedMs(start) });
        expectUnavailable(exchanged);
        start = performance.now();
        const introspected = await replica.introspect(live, introspector, AbortSignal.timeout(OUTAGE_BOUND_MS));
        outage.push({ what: `stalled ${replica.name} /introspect`, ms: elapsedMs(start) });
        expectUnavailable(introspected);
        expect((await replica.get("/readyz", AbortSignal.timeout(OUTAGE_BOUND_MS))).status).toBe(503);
      }
    } finally {
      redis.resume();
    }
    const resumedAt = performance.now();
    await Promise.all(
      [a, b].map(async (replica) => {
        await issuesAgain(replica);
        outage.push({ what: `SIGCONT → ${replica.name} issues again`, ms: elapsedMs(resumedAt) });
      }),
    );
    for (const replica of [a, b]) {
      expect(await active(replica, live)).toBe(true);
      expectRefusal(await replica.exchange(await spiffeForm()), { status: 400, error: "unauthorized_client" });
    }
  }, 60_000);

  it("5. a replica started while Redis is down starts, answers 503, and becomes ready once Redis is up", async () => {
    await redis.kill();
    const late = await fx.startReplica();
    const c = replicaClient("C", late.url);
    try {
      const exchanged = await c.exchange(await gitlabForm(), AbortSignal.timeout(OUTAGE_BOUND_MS));
      expectUnavailable(exchanged);
      const ready = await c.get("/readyz", AbortSignal.timeout(OUTAGE_BOUND_MS));
      expect(ready.status, ready.text).toBe(503);
      expect((ready.json.checks as Record<string, { ok: boolean }>).revocation_store?.ok).toBe(false);

      await redis.restart();
      await eventually(async () => (await c.get("/readyz")).status === 200, RECOVERY_DEADLINE_MS, "C ready");
      await eventually(async () => (await c.exchange(await gitlabForm())).status === 200, RECOVERY_DEADLINE_MS, "C issues");
      // It honours what was revoked and blocked before it started.
      for (const token of mustStayRevoked.filter((token) => payload(token).iss === fx.url)) expect(await active(c, token)).toBe(false);
      expectRefusal(await c.exchange(await spiffeForm()), { status: 400, error: "unauthorized_client" });
    } finally {
      expect(await late.stop()).toBe(0);
    }
  }, 60_000);
});
