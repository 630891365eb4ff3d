import { revocationCutoffMs, type RevocationAdmin } from "../revocation/revocation-store.js";
import { blockInForce } from "../revocation/store-rules.js";
import { parseBlock, serializeBlock, serializeTokenRevocation, serializeWorkloadRevocation } from "./redis-entries.js";
import { redisKey } from "./redis-keys.js";
import { replicatedWrite } from "./redis-replicated-write.js";
import type { RedisStoreCore } from "./redis-store-core.js";

/**
 * KEYS[1] workload revocation; ARGV: entry JSON (with cutoffMs), now, expiry grace seconds.
 * `mergeWorkloadRevocation` in Lua, so it is atomic: over a live entry, the later revokedAt is
 * shown, the cutoff lands strictly after the one in force, and the longer expiry wins. An entry
 * written before cutoffMs existed counts as the end of its revokedAt second.
 */
const REVOKE_WORKLOAD = `
local entry = cjson.decode(ARGV[1])
local current = redis.call('GET', KEYS[1])
if current then
  local ok, old = pcall(cjson.decode, current)
  if ok and type(old) == 'table' then
    local revokedAt, expiresAt = tonumber(old['revokedAt']), tonumber(old['expiresAt'])
    if revokedAt and expiresAt and expiresAt > tonumber(ARGV[2]) then
      local cutoff = math.max(entry['cutoffMs'], (tonumber(old['cutoffMs']) or (revokedAt * 1000 + 999)) + 1)
      local expiry = math.max(entry['expiresAt'], expiresAt)
      if revokedAt > entry['revokedAt'] then entry = old end
      entry['cutoffMs'] = cutoff
      entry['expiresAt'] = expiry
    end
  end
end
redis.call('SET', KEYS[1], cjson.encode(entry), 'EXAT', entry['expiresAt'] + tonumber(ARGV[3]))
return 1`;

/** The operator's writes in Redis, each acknowledged once replicated (redis-replicated-write.ts). */
export function redisRevocationWrites(redis: RedisStoreCore): Omit<RevocationAdmin, "list" | "listPage"> {
  return {
    async revokeToken(entry) {
      const key = redisKey("jti", entry.jti);
      await replicatedWrite(redis, "revokeToken", key, (batch) => batch.set(key, serializeTokenRevocation(entry), "EXAT", redis.redisExpiry(entry.expiresAt)));
    },

    async revokeWorkload(entry) {
      // The cutoff is always written, so the script can compare it (an entry built without one means the end of its second).
      const precise = { ...entry, cutoffMs: revocationCutoffMs(entry) };
      const key = redisKey("workload", entry.workloadId);
      await replicatedWrite(redis, "revokeWorkload", key, (batch) => batch.eval(REVOKE_WORKLOAD, 1, key, serializeWorkloadRevocation(precise), redis.now(), redis.grace));
    },

    async blockWorkload(block) {
      const key = redisKey("block", block.workloadId);
      const value = serializeBlock(block);
      await replicatedWrite(redis, "blockWorkload", key, (batch) =>
        block.until === undefined ? batch.set(key, value) : batch.set(key, value, "EXAT", redis.redisExpiry(block.until)),
      );
    },

    async unblockWorkload(workloadId) {
      const key = redisKey("block", workloadId);
      const value = await replicatedWrite(redis, "unblockWorkload", key, (batch) => batch.getdel(key));
      if (typeof value !== "string") return false;
      const block = parseBlock(value);
      // An unreadable entry was a block of some kind: say it was lifted.
      return block === undefined || blockInForce(block, redis.now());
    },
  };
}
