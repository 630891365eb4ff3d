import { sha256Hex } from "../lib/hash.js";

/**
 * Key layout of the revocation store. Every command touches exactly one key (Lua scripts
 * included), so the same code runs on standalone, Sentinel and Cluster; the one exception is the
 * issuance read of redis-issuance-state.ts (a workload's block, revocation, budget and a claim in
 * one script), which runs only where there are no slots (standalone, Sentinel). Values are JSON
 * entries holding the meta (actor, reason, at).
 *
 *   broker:rev:jti:<jti>          TokenRevocation       expires at expiresAt (+ grace)
 *   broker:rev:wl:<workloadId>    WorkloadRevocation    expires at expiresAt (+ grace)
 *   broker:block:<workloadId>     WorkloadBlock         expires at until (+ grace), or never
 *   broker:once:<key>             the claim's expiresAt expires at expiresAt (+ grace)
 *   broker:svid:<serial>          SvidRecord            expires at expiresAt (+ grace)
 *   broker:probe:{<n>}            never written: read by the Cluster readiness probe (ping)
 *   broker:inv:wl:<workloadId>    inventory: one workload's usage (hash)  expires BROKER_INVENTORY_TTL after its last write
 *   broker:inv:pol:<policyId>     inventory: what a policy granted (hash) expires BROKER_INVENTORY_TTL after its last write
 *   broker:inv:index              inventory: workloads by last issuance (sorted set, capped; redis-inventory-store.ts)
 *
 * An id longer than MAX_ID_BYTES, or starting with "#", is replaced by "#" + its SHA-256, so a key
 * never exceeds ~220 bytes and the two forms cannot collide. Listing reads ids from the values.
 * (Rate-limit budgets live under `broker:rl:`, redis-rate-limiter.ts.)
 */
export const KEY_PREFIX = "broker:";
const MAX_ID_BYTES = 200;

export type RedisKeyKind = "jti" | "workload" | "block" | "once" | "svid" | "inventoryWorkload" | "inventoryPolicy";

const KEY_INFIX: Record<RedisKeyKind, string> = {
  jti: "rev:jti:",
  workload: "rev:wl:",
  block: "block:",
  once: "once:",
  svid: "svid:",
  inventoryWorkload: "inv:wl:",
  inventoryPolicy: "inv:pol:",
};

export function redisKey(kind: RedisKeyKind, id: string): string {
  const part = Buffer.byteLength(id, "utf8") <= MAX_ID_BYTES && !id.startsWith("#") ? id : `#${sha256Hex(id)}`;
  return `${KEY_PREFIX}${KEY_INFIX[kind]}${part}`;
}

/** The SCAN pattern of every key of a kind. */
export function keyPattern(kind: RedisKeyKind): string {
  return `${KEY_PREFIX}${KEY_INFIX[kind]}*`;
}

/** Whether `key` is of `kind`. */
export function isKeyOf(kind: RedisKeyKind, key: string): boolean {
  return key.startsWith(`${KEY_PREFIX}${KEY_INFIX[kind]}`);
}
