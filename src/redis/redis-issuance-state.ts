import { Cluster } from "ioredis";
import type { IssuanceQuery, IssuanceState, ReadIssuanceState } from "../revocation/issuance-state.js";
import { StoreUnavailableError } from "../revocation/revocation-store.js";
import { evalKeys, luaScript } from "./redis-calls.js";
import { blockEntry, CLAIM_ONCE_LUA, workloadEntry } from "./redis-issuance-checks.js";
import { redisKey } from "./redis-keys.js";
import { cachedRateLimitKey, GCRA_LUA } from "./redis-rate-limiter.js";
import type { RedisStoreCore } from "./redis-store-core.js";

/**
 * KEYS: the workload's block, its revocation, then its budget when ARGV[1] is "1", then the
 * claim when ARGV[5] is "1". ARGV: charge?, now (ms), interval (ms), burst, claim?, the claim's
 * expiresAt, now (s), its Redis expiry. Answers {block or nil, revocation or nil, allowed, ms to
 * wait, first use}: the reads, the charge and the claim of redis-issuance-checks.ts and
 * redis-rate-limiter.ts (the same Lua functions), atomically. The claim is taken only when the
 * charge is allowed, as when they run in turn.
 */
const READ_ISSUANCE = luaScript(`${GCRA_LUA}
${CLAIM_ONCE_LUA}
local block = redis.call('GET', KEYS[1])
local revocation = redis.call('GET', KEYS[2])
local allowed, wait, next = 1, 0, 3
if ARGV[1] == '1' then
  allowed, wait = gcra(KEYS[3], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
  next = 4
end
local firstUse = 1
if ARGV[5] == '1' and allowed == 1 then firstUse = claimOnce(KEYS[next], ARGV[6], ARGV[7], ARGV[8]) end
return {block, revocation, allowed, wait, firstUse}`);

/**
 * An issuance's block, revocation, claim and rate charge in one script, one round trip (see
 * ReadIssuanceState): two commands an exchange instead of four with the client's charge, each
 * with its encoding, reply and deadline (bench/README.md). Undefined on a Cluster, where a
 * script may touch only keys of one slot and these are in several (redis-keys.ts): there the
 * broker asks in turn. Keys and values are the ones the store's and the limiter's own calls use.
 */
export function redisIssuanceState(redis: RedisStoreCore): ReadIssuanceState | undefined {
  if (redis.client instanceof Cluster) return undefined;
  const client = redis.client;
  return (query: IssuanceQuery) =>
    redis.run("issuanceState", async (): Promise<IssuanceState> => {
      const { workloadId, replay, charge } = query;
      const keys = [redisKey("block", workloadId), redisKey("workload", workloadId)];
      const now = redis.now();
      const args: (string | number)[] = charge === undefined ? ["0", 0, 0, 0] : ["1", redis.nowMs(), charge.intervalMs, charge.burst];
      if (charge !== undefined) keys.push(cachedRateLimitKey({ kind: "workload", id: workloadId }));
      if (replay === undefined) args.push("0");
      else {
        keys.push(redisKey("once", replay.key));
        args.push("1", replay.expiresAt, now, redis.redisExpiry(replay.expiresAt));
      }
      const reply = await evalKeys(client, READ_ISSUANCE, keys, args);
      if (!Array.isArray(reply) || reply.length !== 5) throw new StoreUnavailableError("redis issuanceState: unexpected reply");
      const [block, revocation, allowed, wait, firstUse] = reply as unknown[];
      if (!isOptionalText(block) || !isOptionalText(revocation) || typeof allowed !== "number" || typeof wait !== "number" || typeof firstUse !== "number") {
        throw new StoreUnavailableError("redis issuanceState: unexpected reply");
      }
      return {
        block: blockEntry(block, now),
        revocation: workloadEntry(revocation, now),
        rate: charge === undefined ? undefined : allowed === 1 ? { allowed: true } : { allowed: false, retryAfterMs: wait },
        firstUse: firstUse === 1,
      };
    });
}

function isOptionalText(value: unknown): value is string | null {
  return value === null || typeof value === "string";
}
