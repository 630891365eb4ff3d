import type { SvidRecord, SvidRegistry, WorkloadRevocation } from "../revocation/revocation-store.js";
import { svidRevocation } from "../revocation/store-rules.js";
import { parseSvidRecord, parseWorkloadRevocation, serializeMeta, serializeSvidRecord } from "./redis-entries.js";
import { keyPattern, redisKey } from "./redis-keys.js";
import { replicatedSet, replicatedWrite } from "./redis-replicated-write.js";
import { required, type RedisStoreCore } from "./redis-store-core.js";

/**
 * KEYS[1] SVID record; ARGV: revocation meta JSON, now. Marks an unexpired record revoked (the first
 * revocation is kept) and answers the record; nil when there is no unexpired record.
 */
const REVOKE_SVID = `
local current = redis.call('GET', KEYS[1])
if not current then return false end
local ok, record = pcall(cjson.decode, current)
if not ok or type(record) ~= 'table' or not tonumber(record['expiresAt']) then return false end
if tonumber(record['expiresAt']) <= tonumber(ARGV[2]) then return false end
if record['revoked'] == nil then
  record['revoked'] = cjson.decode(ARGV[1])
  current = cjson.encode(record)
  redis.call('SET', KEYS[1], current, 'KEEPTTL')
end
return current`;

/** The issued X.509-SVIDs in Redis: one key per serial, living until the certificate expires. */
export function redisSvidRegistry(redis: RedisStoreCore): SvidRegistry {
  return {
    async recordSvid(entry) {
      const record = { serial: entry.serial, workloadId: entry.workloadId, issuedAt: entry.issuedAt, issuedAtMs: entry.issuedAtMs, expiresAt: entry.expiresAt };
      const key = redisKey("svid", entry.serial);
      await replicatedSet(redis, "recordSvid", key, serializeSvidRecord(record), redis.redisExpiry(entry.expiresAt));
    },

    async revokeSvid(serial, meta) {
      const key = redisKey("svid", serial);
      const result = await replicatedWrite(redis, "revokeSvid", key, (batch) => batch.eval(REVOKE_SVID, 1, key, serializeMeta(meta), redis.now()));
      return typeof result === "string" ? required(parseSvidRecord(result), "svid") : undefined;
    },

    async revokedSvids() {
      const keys = await redis.scanKeys([keyPattern("svid")]);
      const records: SvidRecord[] = [];
      (await redis.getAll("revokedSvids", keys)).forEach((value, index) => {
        if (value === null) return; // expired since the scan
        // An unreadable record cannot be judged: fail closed rather than publish a CRL without it.
        records.push(required(parseSvidRecord(value), `svid (${keys[index] ?? "?"})`));
      });
      const workloadIds = [...new Set(records.filter((record) => record.revoked === undefined).map((record) => record.workloadId))];
      const workloads = new Map<string, WorkloadRevocation>();
      (await redis.getAll("revokedSvids", workloadIds.map((id) => redisKey("workload", id)))).forEach((value, index) => {
        const id = workloadIds[index];
        if (value !== null && id !== undefined) workloads.set(id, required(parseWorkloadRevocation(value), "workload"));
      });
      const now = redis.now();
      return records.flatMap((record) => svidRevocation(record, workloads.get(record.workloadId), now) ?? []);
    },
  };
}
