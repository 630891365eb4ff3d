import type { Cluster, Redis } from "ioredis";
import type { Clock } from "../lib/clock.js";
import {
  DEFAULT_INVENTORY_BOUNDS,
  hourOf,
  InventoryUnavailableError,
  minuteOf,
  type InventoryBounds,
  type InventoryStore,
  type IssuanceRecord,
  type PolicyUsage,
  type WorkloadIdQuery,
  type WorkloadUsage,
} from "../inventory/inventory-store.js";
import { issuedInLastDay, liveAt, oldestHour } from "../inventory/usage-counters.js";
import { boundedCall, defaultCallTimeoutMs, evalScript, luaScript } from "./redis-calls.js";
import { KEY_PREFIX, redisKey } from "./redis-keys.js";
import { coalesceWrites } from "./coalesce-writes.js";

/** The sorted set of workloads by last issuance (ms), capped at `maxWorkloads`. */
export const INVENTORY_INDEX_KEY = `${KEY_PREFIX}inv:index`;

/**
 * One workload's hash. KEYS[1]; ARGV: issued at (ms, the last of the record), its hour, the oldest
 * hour kept, its expiry minute, the current minute, TTL (ms), policy id ('' none), issuer ('' none),
 * the issuances it stands for, the first of them (ms). Fields: first, last,
 * issuer, p:<policy> (last use), h:<hour> (issuances), m:<expiry minute> (credentials); hours and
 * minutes past are deleted, so at most 25 h: and 61 m: fields remain.
 */
const RECORD_WORKLOAD = luaScript(`
local key = KEYS[1]
local at = tonumber(ARGV[1])
local first = tonumber(redis.call('HGET', key, 'first'))
if not first or tonumber(ARGV[10]) < first then redis.call('HSET', key, 'first', ARGV[10]) end
local last = tonumber(redis.call('HGET', key, 'last'))
if not last or at > last then redis.call('HSET', key, 'last', ARGV[1]) end
if ARGV[7] ~= '' then redis.call('HSET', key, 'p:' .. ARGV[7], ARGV[1]) end
if ARGV[8] ~= '' then redis.call('HSET', key, 'issuer', ARGV[8]) end
redis.call('HINCRBY', key, 'h:' .. ARGV[2], ARGV[9])
redis.call('HINCRBY', key, 'm:' .. ARGV[4], ARGV[9])
local oldestHour = tonumber(ARGV[3])
local nowMinute = tonumber(ARGV[5])
for _, field in ipairs(redis.call('HKEYS', key)) do
  local kind = string.sub(field, 1, 2)
  local n = tonumber(string.sub(field, 3))
  if (kind == 'h:' and n < oldestHour) or (kind == 'm:' and n < nowMinute) then redis.call('HDEL', key, field) end
end
redis.call('PEXPIRE', key, ARGV[6])
return 1`);

/**
 * The index. KEYS[1]; ARGV: workload id, last issuance (ms), the cap, the oldest score kept (ms),
 * TTL (ms). A later score wins; members past the TTL and the least recent past the cap are dropped.
 * Answers the members dropped for the cap, whose records the caller deletes (one key each, so
 * Cluster works): the records too stay within the cap, not only the listing.
 */
const INDEX_WORKLOAD = luaScript(`
local key = KEYS[1]
local at = tonumber(ARGV[2])
local held = tonumber(redis.call('ZSCORE', key, ARGV[1]))
if not held or at > held then redis.call('ZADD', key, at, ARGV[1]) end
redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. ARGV[4])
local over = redis.call('ZCARD', key) - tonumber(ARGV[3])
local dropped = {}
if over > 0 then
  dropped = redis.call('ZRANGE', key, 0, over - 1)
  redis.call('ZREMRANGEBYRANK', key, 0, over - 1)
end
redis.call('PEXPIRE', key, ARGV[5])
return dropped`);

/** A policy's hash. KEYS[1]; ARGV: issued at (ms), TTL (ms), then fields (a:, s:, t:) set to it, and 'last'. */
const RECORD_GRANT = luaScript(`
local key = KEYS[1]
for i = 3, #ARGV do redis.call('HSET', key, ARGV[i], ARGV[1]) end
local last = tonumber(redis.call('HGET', key, 'last'))
if not last or tonumber(ARGV[1]) > last then redis.call('HSET', key, 'last', ARGV[1]) end
redis.call('PEXPIRE', key, ARGV[2])
return 1`);

/**
 * How long (at most) a replica skips rewriting what it wrote already: the index entry of a workload, and a
 * policy's grant fields for the same audiences, scopes and token type. The index score (last use)
 * and a grant's last use can so lag by up to this much; the workload's own hash (first, last,
 * counters) is written on every issuance.
 */
export const INVENTORY_REWRITE_INTERVAL_MS = 60_000;

/** Entries of each rewrite memo; emptied when full, so ids a caller makes up cannot grow it. */
const MEMO_MAX_ENTRIES = 4_096;

/**
 * The inventory in the broker's Redis (the revocation store's client; that store closes it). Every
 * command touches one key, Lua included, so it runs on a Cluster. A record (one issuance, or
 * several summed by the recorder) costs one one-key script (the workload's hash), and two more (the
 * index, the policy) when this replica has not written the same in the last
 * {@link INVENTORY_REWRITE_INTERVAL_MS}; the client's auto-pipelining sends them together. Bounds: see inventory-store.ts; the index is one sorted set of at most
 * `maxWorkloads` members.
 */
export class RedisInventoryStore implements InventoryStore {
  readonly kind = "redis";
  private readonly timeoutMs: number;
  /** Workload id → when this replica last wrote its index entry (ms). */
  private readonly indexed = new Map<string, number>();
  /** Policy id and grant fields → when this replica last wrote them (ms). */
  private readonly granted = new Map<string, number>();
  /** The rewrite interval, at most a tenth of the TTL, so a skipped rewrite never lets an entry expire. */
  private readonly rewriteMs: number;

  constructor(
    private readonly client: Redis | Cluster,
    private readonly clock: Clock,
    private readonly bounds: InventoryBounds = DEFAULT_INVENTORY_BOUNDS,
    options: { readonly timeoutMs?: number } = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? defaultCallTimeoutMs(client);
    this.rewriteMs = Math.min(INVENTORY_REWRITE_INTERVAL_MS, (bounds.ttlSeconds * 1000) / 10);
  }

  async record(issuance: IssuanceRecord): Promise<void> {
    const nowMs = this.clock.now();
    const ttlMs = this.bounds.ttlSeconds * 1000;
    const at = issuance.issuedAtMs;
    const writes = [
      evalScript(this.client, RECORD_WORKLOAD, redisKey("inventoryWorkload", issuance.workloadId), [
        at,
        hourOf(at),
        oldestHour(nowMs),
        minuteOf(issuance.expiresAt * 1000),
        minuteOf(nowMs),
        ttlMs,
        issuance.policyId ?? "",
        issuance.issuer ?? "",
        issuance.count ?? 1,
        issuance.firstIssuedAtMs ?? at,
      ]),
    ];
    if (due(this.indexed, issuance.workloadId, nowMs, this.rewriteMs)) {
      const indexing = evalScript(this.client, INDEX_WORKLOAD, INVENTORY_INDEX_KEY, [issuance.workloadId, at, this.bounds.maxWorkloads, nowMs - ttlMs, ttlMs]);
      writes.push(indexing.then((dropped) => this.forget(dropped)));
    }
    const fields = [...issuance.audiences.map((a) => `a:${a}`), ...issuance.scopes.map((s) => `s:${s}`), `t:${issuance.tokenType}`];
    if (issuance.policyId !== undefined && due(this.granted, `${issuance.policyId}\n${fields.join("\n")}`, nowMs, this.rewriteMs)) {
      writes.push(evalScript(this.client, RECORD_GRANT, redisKey("inventoryPolicy", issuance.policyId), [at, ttlMs, ...fields]));
    }
    try {
      await this.run("inventory record", () => Promise.all(writes));
    } catch (error) {
      // Written or not, nothing is known: write it all again next time.
      this.indexed.delete(issuance.workloadId);
      this.granted.clear();
      throw error;
    }
  }

  /** Deletes the records of workloads the index dropped for its cap. */
  private async forget(dropped: unknown): Promise<void> {
    if (!Array.isArray(dropped) || dropped.length === 0) return;
    const ids = dropped.filter((id): id is string => typeof id === "string");
    for (const id of ids) this.indexed.delete(id);
    await Promise.all(ids.map((id) => this.client.del(redisKey("inventoryWorkload", id))));
  }

  async workloadIds(query: WorkloadIdQuery): Promise<readonly string[]> {
    const oldest = this.clock.now() - this.bounds.ttlSeconds * 1000;
    const newest = query.lastBeforeMs === undefined ? "+inf" : `(${query.lastBeforeMs}`;
    return this.run("inventory list", () => this.client.zrevrangebyscore(INVENTORY_INDEX_KEY, newest, `(${oldest}`, "LIMIT", query.offset, query.limit));
  }

  async usage(workloadIds: readonly string[]): Promise<readonly (WorkloadUsage | undefined)[]> {
    const hashes = await this.run("inventory read", () => Promise.all(workloadIds.map((id) => this.client.hgetall(redisKey("inventoryWorkload", id)))));
    const nowMs = this.clock.now();
    return hashes.map((hash, index) => workloadUsage(workloadIds[index] ?? "", hash, nowMs));
  }

  async policyUsage(policyIds: readonly string[]): Promise<readonly PolicyUsage[]> {
    const hashes = await this.run("inventory read", () => Promise.all(policyIds.map((id) => this.client.hgetall(redisKey("inventoryPolicy", id)))));
    return hashes.map((hash, index) => {
      const fields = Object.keys(hash);
      const named = (prefix: string) => fields.filter((field) => field.startsWith(prefix)).map((field) => field.slice(prefix.length)).sort();
      const last = Number(hash.last);
      return { policyId: policyIds[index] ?? "", audiences: named("a:"), scopes: named("s:"), tokenTypes: named("t:"), lastUsedMs: Number.isFinite(last) && last > 0 ? last : undefined };
    });
  }

  private run<T>(operation: string, work: () => Promise<T>): Promise<T> {
    coalesceWrites(this.client);
    return boundedCall(operation, work, this.timeoutMs, InventoryUnavailableError);
  }
}

/** Whether `key` is due a write at `nowMs` (not written by this replica within the interval); marks it written. */
function due(memo: Map<string, number>, key: string, nowMs: number, intervalMs: number): boolean {
  const last = memo.get(key);
  if (last !== undefined && nowMs - last < intervalMs && nowMs >= last) return false;
  if (memo.size >= MEMO_MAX_ENTRIES) memo.clear();
  memo.set(key, nowMs);
  return true;
}

/** A workload's hash as usage; undefined when it holds no record (never seen, or expired). */
function workloadUsage(workloadId: string, hash: Record<string, string>, nowMs: number): WorkloadUsage | undefined {
  const first = Number(hash.first);
  const last = Number(hash.last);
  if (!Number.isFinite(first) || !Number.isFinite(last)) return undefined;
  const hours: [number, number][] = [];
  const minutes: [number, number][] = [];
  const policies: string[] = [];
  for (const [field, value] of Object.entries(hash)) {
    if (field.startsWith("p:")) policies.push(field.slice(2));
    else if (field.startsWith("h:")) hours.push([Number(field.slice(2)), Number(value)]);
    else if (field.startsWith("m:")) minutes.push([Number(field.slice(2)), Number(value)]);
  }
  return {
    workloadId,
    firstIssuedAtMs: first,
    lastIssuedAtMs: last,
    policies: policies.sort(),
    issuer: hash.issuer,
    issuedLast24h: issuedInLastDay(hours, nowMs),
    liveNow: liveAt(minutes, nowMs),
  };
}
