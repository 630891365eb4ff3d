import type { IssuanceChecks, RevocationStatus, TokenRef, TokenRevocation, WorkloadBlock, WorkloadRevocation } from "../revocation/revocation-store.js";
import { blockInForce, judgeToken, liveEntry, statusOf } from "../revocation/store-rules.js";
import { evalScript, luaScript } from "./redis-calls.js";
import { parseBlock, parseTokenRevocation, parseWorkloadRevocation } from "./redis-entries.js";
import { redisKey } from "./redis-keys.js";
import { required, type RedisStoreCore } from "./redis-store-core.js";

/**
 * The single-use claim as a Lua function, for CLAIM_ONCE below and the issuance read of
 * redis-issuance-state.ts: `claimOnce(key, expiresAt, now, redis expiry)` answers 0 when a claim
 * held past `now` wins, else takes the claim and answers 1.
 */
export const CLAIM_ONCE_LUA = `
local function claimOnce(key, expiresAt, now, expiry)
  local held = tonumber(redis.call('GET', key))
  if held and held > tonumber(now) then return 0 end
  redis.call('SET', key, expiresAt, 'EXAT', expiry)
  return 1
end`;

/** KEYS[1] claim; ARGV: expiresAt, now, redis expiry. */
const CLAIM_ONCE = luaScript(`${CLAIM_ONCE_LUA}
return claimOnce(KEYS[1], ARGV[1], ARGV[2], ARGV[3])`);

/** A stored workload revocation as the store answers it: parsed (else the store fails closed) and in force now. */
export function workloadEntry(value: string | null | undefined, now: number): WorkloadRevocation | undefined {
  return value === null || value === undefined ? undefined : liveEntry(required(parseWorkloadRevocation(value), "workload"), now);
}

/** A stored block as the store answers it: parsed (else the store fails closed) and in force now. */
export function blockEntry(value: string | null | undefined, now: number): WorkloadBlock | undefined {
  if (value === null || value === undefined) return undefined;
  const block = required(parseBlock(value), "block");
  return blockInForce(block, now) ? block : undefined;
}

/**
 * The hot-path reads (token status, the kernel's issuance checks) and the single-use claims, in
 * Redis: plain GETs and one Lua script, each on one key, no local cache.
 */
export function redisIssuanceChecks(redis: RedisStoreCore): RevocationStatus & IssuanceChecks {
  const tokenEntry = (value: string | null | undefined, now: number): TokenRevocation | undefined =>
    value === null || value === undefined ? undefined : liveEntry(required(parseTokenRevocation(value), "jti"), now);

  const tokenRevocation = (token: TokenRef) =>
    redis.run("tokenStatus", async () => {
      const lineage = token.lineage ?? [];
      const actors = token.actors ?? [];
      // Single-key GETs issued together, so a family of a few tokens costs no extra round trip:
      // auto-pipelined on standalone and Sentinel; on a Cluster each is written at once (not
      // pipelined: see redis-connection.ts) and redirected by itself when its slot moved.
      const [byId, byWorkload, ...rest] = await Promise.all([
        redis.client.get(redisKey("jti", token.jti)),
        redis.client.get(redisKey("workload", token.sub)),
        ...lineage.map((jti) => redis.client.get(redisKey("jti", jti))),
        ...actors.map((id) => redis.client.get(redisKey("workload", id))),
      ]);
      const now = redis.now();
      return judgeToken(token, {
        byId: tokenEntry(byId, now),
        byWorkload: workloadEntry(byWorkload, now),
        byLineage: rest.slice(0, lineage.length).map((value) => tokenEntry(value, now)),
        byActor: rest.slice(lineage.length).map((value) => workloadEntry(value, now)),
      });
    });

  return {
    tokenRevocation,
    tokenStatus: async (token) => statusOf(await tokenRevocation(token)),
    activeBlock: (workloadId) =>
      redis.run("activeBlock", async () => blockEntry(await redis.client.get(redisKey("block", workloadId)), redis.now())),
    workloadRevocation: (workloadId) =>
      redis.run("workloadRevocation", async () => workloadEntry(await redis.client.get(redisKey("workload", workloadId)), redis.now())),
    claimOnce: (key, expiresAt) =>
      redis.run("claimOnce", async () => {
        const now = redis.now();
        return (await evalScript(redis.client, CLAIM_ONCE, redisKey("once", key), [expiresAt, now, redis.redisExpiry(expiresAt)])) === 1;
      }),
  };
}
