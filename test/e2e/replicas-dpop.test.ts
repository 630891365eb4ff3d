/**
 * DPoP across replicas: two real broker processes (A and B) sharing one real redis-server, the same
 * keys, the same issuer URL and the same BROKER_DPOP_NONCE_SECRET. Black-box over HTTP:
 *
 *   1. a nonce handed out by A is accepted by B (stateless, derived from the shared secret);
 *   2. the SAME proof is accepted by A and then refused by B as a replay (its jti claimed in Redis);
 *   3. the claim lives in Redis under the DPoP namespace, with an expiry bounded by the proof window.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { replayKey } from "../../src/dpop/verify-proof.js";
import { redisKey } from "../../src/redis/redis-revocation-store.js";
import { encodeForm, OIDC_SUBJECT, requestBroker, type BrokerFixture, type BrokerResponse } from "../support/broker-fixture.js";
import type { BrokerProcess } from "../support/broker-process.js";
import type { RedisServerHandle } from "../support/redis-server.js";
import { standaloneRedis, startReplicaPair, type ReplicaPair } from "../support/replica-pair.js";
import { makeProof, proofKey, type ProofKey } from "../support/dpop-proofs.js";
import { expectRefusal } from "../support/refusal.js";

const NONCE_SECRET = "replicas-dpop-nonce-secret-0123456789-abcdefgh";
const WINDOW_SECONDS = 60;
/** RedisRevocationStore keeps an entry this long past its expiry. */
const GRACE_SECONDS = 60;
const AUDIENCE = "https://a.example.com";

let pair: ReplicaPair<RedisServerHandle>;
let redis: RedisServerHandle;
let fx: BrokerFixture;
let brokerB: BrokerProcess;
let key: ProofKey;

beforeAll(async () => {
  pair = await startReplicaPair({
    redis: standaloneRedis(),
    env: { BROKER_DPOP_NONCE: "required", BROKER_DPOP_NONCE_SECRET: NONCE_SECRET, BROKER_DPOP_PROOF_WINDOW: `${WINDOW_SECONDS}s` },
  });
  ({ redis, fx, brokerB } = pair);
  key = await proofKey("ES256");
}, 60_000);

afterAll(async () => {
  await pair?.close();
}, 30_000);

async function exchange(url: string, dpop: string): Promise<BrokerResponse> {
  const form = { ...fx.form(await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT })), audience: AUDIENCE };
  return requestBroker(url, "/token", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", dpop }, body: encodeForm(form) });
}

describe("DPoP with two replicas sharing Redis", () => {
  it("step 1: a nonce from replica A is accepted by replica B", async () => {
    const fromA = (await requestBroker(fx.url, "/token", { method: "POST" })).headers.get("dpop-nonce");
    expect(fromA).toBeTruthy();
    const res = await exchange(brokerB.url, await makeProof(key, { htm: "POST", htu: `${fx.url}/token`, nonce: fromA }));
    expect(res.status, res.text).toBe(200);
    expect(res.json.token_type).toBe("DPoP");
  });

  it("step 2: the same proof is accepted by replica A, then refused by replica B as a replay", async () => {
    const nonce = (await requestBroker(fx.url, "/token", { method: "POST" })).headers.get("dpop-nonce");
    const jti = `replica-replay-${Date.now()}`;
    const proof = await makeProof(key, { htm: "POST", htu: `${fx.url}/token`, nonce, jti });
    const onA = await exchange(fx.url, proof);
    expect(onA.status, onA.text).toBe(200);
    const onB = await exchange(brokerB.url, proof);
    expectRefusal(onB, { status: 400, error: "invalid_dpop_proof", description: "DPoP proof was already used" });
    expect(onB.text).not.toContain("access_token");

    // step 3: the claim is in Redis, under the DPoP namespace, expiring within iat + window (+ 1 s) + grace.
    const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await client.connect();
      const redisEntry = redisKey("once", replayKey(key.jkt, `${fx.url}/token`, jti));
      expect(redisEntry.startsWith("broker:once:@dpop:")).toBe(true);
      const expiresAt = await client.call("EXPIRETIME", redisEntry);
      const now = Math.floor(Date.now() / 1000);
      expect(typeof expiresAt).toBe("number");
      expect(expiresAt as number).toBeGreaterThan(now);
      expect(expiresAt as number).toBeLessThanOrEqual(now + WINDOW_SECONDS + 1 + GRACE_SECONDS + 1);
    } finally {
      client.disconnect();
    }
  });
});
