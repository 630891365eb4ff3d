import type { IssuanceChecks, RevocationStatus, TokenRef, TokenRevocation, WorkloadRevocation } from "../revocation/revocation-store.js";
import { blockInForce, judgeToken, liveEntry, statusOf } from "../revocation/store-rules.js";
import { evalScript, luaScript } from "./redis-calls.js";
import { parseBlock, parseTokenRevocation, parseWorkloadRevocation } from "./redis-entries.js";
import { redisKey } from "./redis-keys.js";
import { required, type RedisStoreCore } from "./redis-store-core.js";

/** KEYS[1] claim; ARGV: expiresAt, now, redis expiry. A claim held past `now` wins; else take it. */
const CLAIM_ONCE = luaScript(`
local held = tonumber(redis.call('GET', KEYS[1]))
if held and held > tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EXAT', ARGV[3])
return 1`);

/**
 * The hot-path reads (token status, the kernel's issuance checks) and the single-use claims, in
 * Redis: plain GETs and one Lua script, each on one key, no local cache.
 */
export function redisIssuanceChecks(redis: RedisStoreCore): RevocationStatus & IssuanceChecks {
  const tokenEntry = (value: string | null | undefined, now: number): TokenRevocation | undefined =>
    value === null || value === undefined ? undefined : liveEntry(required(parseTokenRevocation(value), "jti"), now);
  const workloadEntry = (value: string | null | undefined, now: number): WorkloadRevocation | undefined =>
    value === null || value === undefined ? undefined : liveEntry(required(parseWorkloadRevocation(value), "workload"), now);

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
      redis.run("activeBlock", async () => {
        const value = await redis.client.get(redisKey("block", workloadId));
        if (value === null) return undefined;
        const block = required(parseBlock(value), "block");
        return blockInForce(block, redis.now()) ? block : undefined;
      }),
    workloadRevocation: (workloadId) =>
      redis.run("workloadRevocation", async () => workloadEntry(await redis.client.get(redisKey("workload", workloadId)), redis.now())),
    claimOnce: (key, expiresAt) =>
      redis.run("claimOnce", async () => {
        const now = redis.now();
        return (await evalScript(redis.client, CLAIM_ONCE, redisKey("once", key), [expiresAt, now, redis.redisExpiry(expiresAt)])) === 1;
      }),
  };
}
