import type { Clock } from "../lib/clock.js";
import { DEFAULT_INVENTORY_BOUNDS, hourOf, minuteOf, type InventoryBounds, type InventoryStore, type IssuanceRecord, type PolicyUsage, type WorkloadIdQuery, type WorkloadUsage } from "./inventory-store.js";
import { issuedInLastDay, liveAt, oldestHour } from "./usage-counters.js";

interface WorkloadEntry {
  firstMs: number;
  lastMs: number;
  issuer: string | undefined;
  readonly policies: Map<string, number>;
  readonly hours: Map<number, number>;
  readonly minutes: Map<number, number>;
}

interface PolicyEntry {
  lastMs: number;
  readonly audiences: Map<string, number>;
  readonly scopes: Map<string, number>;
  readonly tokenTypes: Map<string, number>;
}

/**
 * The inventory in this process (no REDIS_URL), with the Redis store's bounds: at most
 * `maxWorkloads` workloads (the least recently issued dropped first), each forgotten `ttlSeconds`
 * after its last issuance, 25 hour and 61 minute counters each.
 */
export class MemoryInventoryStore implements InventoryStore {
  readonly kind = "memory";
  /** In order of last issuance, oldest first (a write moves its workload to the end). */
  private readonly workloads = new Map<string, WorkloadEntry>();
  private readonly policies = new Map<string, PolicyEntry>();

  constructor(
    private readonly clock: Clock,
    private readonly bounds: InventoryBounds = DEFAULT_INVENTORY_BOUNDS,
  ) {}

  async record(issuance: IssuanceRecord): Promise<void> {
    const nowMs = this.clock.now();
    const firstMs = issuance.firstIssuedAtMs ?? issuance.issuedAtMs;
    const times = issuance.count ?? 1;
    const entry = this.live(issuance.workloadId, nowMs) ?? { firstMs, lastMs: 0, issuer: undefined, policies: new Map(), hours: new Map(), minutes: new Map() };
    entry.firstMs = Math.min(entry.firstMs, firstMs);
    entry.lastMs = Math.max(entry.lastMs, issuance.issuedAtMs);
    if (issuance.issuer !== undefined) entry.issuer = issuance.issuer;
    if (issuance.policyId !== undefined) entry.policies.set(issuance.policyId, issuance.issuedAtMs);
    count(entry.hours, hourOf(issuance.issuedAtMs), times, oldestHour(nowMs));
    count(entry.minutes, minuteOf(issuance.expiresAt * 1000), times, minuteOf(nowMs));
    this.workloads.delete(issuance.workloadId);
    this.workloads.set(issuance.workloadId, entry);
    while (this.workloads.size > this.bounds.maxWorkloads) {
      const oldest = this.workloads.keys().next().value;
      if (oldest === undefined) break;
      this.workloads.delete(oldest);
    }
    if (issuance.policyId !== undefined) this.recordGrant(issuance.policyId, issuance, nowMs);
  }

  async workloadIds(query: WorkloadIdQuery): Promise<readonly string[]> {
    const nowMs = this.clock.now();
    const ids: string[] = [];
    const newestFirst = [...this.workloads.entries()].reverse();
    for (const [id, entry] of newestFirst) {
      if (this.expired(entry.lastMs, nowMs)) continue;
      if (query.lastBeforeMs !== undefined && entry.lastMs >= query.lastBeforeMs) continue;
      ids.push(id);
    }
    return ids.slice(query.offset, query.offset + query.limit);
  }

  async usage(workloadIds: readonly string[]): Promise<readonly (WorkloadUsage | undefined)[]> {
    const nowMs = this.clock.now();
    return workloadIds.map((workloadId) => {
      const entry = this.live(workloadId, nowMs);
      if (entry === undefined) return undefined;
      return {
        workloadId,
        firstIssuedAtMs: entry.firstMs,
        lastIssuedAtMs: entry.lastMs,
        policies: [...entry.policies.keys()].sort(),
        issuer: entry.issuer,
        issuedLast24h: issuedInLastDay(entry.hours, nowMs),
        liveNow: liveAt(entry.minutes, nowMs),
      };
    });
  }

  async policyUsage(policyIds: readonly string[]): Promise<readonly PolicyUsage[]> {
    const nowMs = this.clock.now();
    return policyIds.map((policyId) => {
      const entry = this.policies.get(policyId);
      const used = entry !== undefined && !this.expired(entry.lastMs, nowMs) ? entry : undefined;
      return {
        policyId,
        audiences: [...(used?.audiences.keys() ?? [])].sort(),
        scopes: [...(used?.scopes.keys() ?? [])].sort(),
        tokenTypes: [...(used?.tokenTypes.keys() ?? [])].sort(),
        lastUsedMs: used?.lastMs,
      };
    });
  }

  private recordGrant(policyId: string, issuance: IssuanceRecord, nowMs: number): void {
    const held = this.policies.get(policyId);
    const entry = held !== undefined && !this.expired(held.lastMs, nowMs) ? held : { lastMs: 0, audiences: new Map(), scopes: new Map(), tokenTypes: new Map() };
    entry.lastMs = Math.max(entry.lastMs, issuance.issuedAtMs);
    for (const audience of issuance.audiences) entry.audiences.set(audience, issuance.issuedAtMs);
    for (const scope of issuance.scopes) entry.scopes.set(scope, issuance.issuedAtMs);
    entry.tokenTypes.set(issuance.tokenType, issuance.issuedAtMs);
    this.policies.set(policyId, entry);
  }

  /** The entry of a workload still within its TTL; an expired one is forgotten here. */
  private live(workloadId: string, nowMs: number): WorkloadEntry | undefined {
    const entry = this.workloads.get(workloadId);
    if (entry === undefined || !this.expired(entry.lastMs, nowMs)) return entry;
    this.workloads.delete(workloadId);
    return undefined;
  }

  private expired(lastMs: number, nowMs: number): boolean {
    return nowMs - lastMs >= this.bounds.ttlSeconds * 1000;
  }
}

/** Adds `times` to `bucket` and drops the buckets before `oldest`, so the map stays bounded. */
function count(buckets: Map<number, number>, bucket: number, times: number, oldest: number): void {
  buckets.set(bucket, (buckets.get(bucket) ?? 0) + times);
  for (const key of buckets.keys()) if (key < oldest) buckets.delete(key);
}
