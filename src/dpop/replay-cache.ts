import { epochSeconds, systemClock, type Clock } from "../lib/clock.js";

/**
 * Where a resource server remembers the DPoP proofs it accepted (RFC 9449 §11.1), until each could
 * no longer be accepted anyway. Several replicas behind one URL need a shared implementation (e.g.
 * Redis `SET key 1 NX EXAT expiresAt`), or a proof used on one is accepted once more on another.
 */
export interface DpopReplayCache {
  /** Claims `key` until `expiresAt` (seconds since the epoch): true the first time, false for a replay. */
  claim(key: string, expiresAt: number): Promise<boolean> | boolean;
}

/** The cache is full of live entries: refuse (503) rather than forget a proof that could be replayed. */
export class ReplayCacheFullError extends Error {
  override readonly name = "ReplayCacheFullError";
}

const SWEEP_INTERVAL_MS = 1_000;

/**
 * A bounded in-memory replay cache for one process. Expired entries are swept when it fills up (at
 * most once a second, so a flood cannot make every request scan it); when it is full of live
 * entries it throws ReplayCacheFullError instead of evicting one, since eviction would reopen a
 * replay window. 100,000 entries cover about 800 proofs a second with the default 60 s window.
 */
export class MemoryDpopReplayCache implements DpopReplayCache {
  private readonly entries = new Map<string, number>();
  private readonly maxEntries: number;
  private readonly clock: Clock;
  private lastSweepMs = Number.NEGATIVE_INFINITY;

  constructor(options: { readonly maxEntries?: number; readonly clock?: Clock } = {}) {
    this.maxEntries = options.maxEntries ?? 100_000;
    this.clock = options.clock ?? systemClock;
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1) throw new Error("MemoryDpopReplayCache: maxEntries must be a positive integer");
  }

  claim(key: string, expiresAt: number): boolean {
    const now = epochSeconds(this.clock);
    const held = this.entries.get(key);
    if (held !== undefined && held > now) return false;
    if (held === undefined && this.entries.size >= this.maxEntries) {
      this.sweep(now);
      if (this.entries.size >= this.maxEntries) throw new ReplayCacheFullError(`DPoP replay cache full (${this.maxEntries} live entries)`);
    }
    this.entries.set(key, expiresAt);
    return true;
  }

  /** Live entries, for tests and metrics. */
  get size(): number {
    return this.entries.size;
  }

  private sweep(now: number): void {
    if (this.clock.now() - this.lastSweepMs < SWEEP_INTERVAL_MS) return;
    this.lastSweepMs = this.clock.now();
    for (const [key, expiresAt] of this.entries) if (expiresAt <= now) this.entries.delete(key);
  }
}
