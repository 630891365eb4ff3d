import type { Clock } from "../lib/clock.js";
import { gcra } from "./gcra.js";
import type { RateDecision, RateLimit, RateLimiter, RateLimitKey } from "./rate-limiter.js";

/** Default cap on budgets held: ~100 bytes each, so about 10 MB at most. */
const MEMORY_LIMITER_MAX_ENTRIES = 100_000;
/** Stale entries dropped per take, so idle budgets are reclaimed without a timer. */
const SWEEP_PER_TAKE = 2;

/**
 * Rate limits in this process only (no REDIS_URL): each replica would count on its own, which is
 * why several replicas use Redis. Memory is bounded: an entry whose TAT has passed is equal to no
 * entry and is dropped as new keys arrive, and past `maxEntries` the least recently used budget is
 * evicted. A flood of distinct addresses therefore evicts its own entries first, while an address
 * that keeps calling (allowed or refused) stays tracked. An evicted budget starts full again.
 */
export class MemoryRateLimiter implements RateLimiter {
  readonly kind = "memory";
  /** key → TAT (ms). Map iteration order is insertion order: re-inserting on use makes it an LRU. */
  private readonly entries = new Map<string, number>();
  private readonly maxEntries: number;

  constructor(
    private readonly clock: Clock,
    options: { readonly maxEntries?: number } = {},
  ) {
    this.maxEntries = options.maxEntries ?? MEMORY_LIMITER_MAX_ENTRIES;
  }

  /** Budgets currently held (for tests and the bound above). */
  get size(): number {
    return this.entries.size;
  }

  async take(key: RateLimitKey, limit: RateLimit): Promise<RateDecision> {
    const now = this.clock.now();
    // The kind prefix keeps the two namespaces apart: "client:x" can never equal "workload:y".
    const name = `${key.kind}:${key.id}`;
    const stored = this.entries.get(name);
    const { decision, tat } = gcra(stored, now, limit);
    this.entries.delete(name);
    if (tat !== undefined) this.entries.set(name, tat);
    this.sweep(now);
    return decision;
  }

  private sweep(now: number): void {
    let checked = 0;
    for (const [name, tat] of this.entries) {
      if (this.entries.size > this.maxEntries) {
        this.entries.delete(name);
        continue;
      }
      if (checked++ >= SWEEP_PER_TAKE) break;
      if (tat <= now) this.entries.delete(name);
    }
  }
}
