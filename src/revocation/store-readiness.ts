/**
 * How long one failed store call keeps the replica not ready: the Retry-After (2 s) the broker
 * sends with the 503 of a store outage, so a load balancer hears what the callers were told.
 */
export const FAILED_CALL_HOLD_MS = 2_000;

/**
 * Readiness of the revocation store from what it actually does, not from one connection: not
 * ready while the active probe fails (on a Cluster, a keyed read on every master, routed as real
 * requests are), and for FAILED_CALL_HOLD_MS after any real store or rate-limit call failed for
 * want of Redis. A replica whose store fails requests thus leaves the load balancer's rotation,
 * even when a probe of its own happens to get through.
 */
export class StoreReadiness {
  private lastFailureAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly kind: string,
    /** Bounded in time by the store's own deadline; throws when the store cannot answer. */
    private readonly probe: () => Promise<void>,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** A store call failed because the store could not answer (not a refusal or a bad request). */
  recordFailure(): void {
    this.lastFailureAt = this.now();
  }

  async check(): Promise<{ readonly ok: boolean; readonly detail: string }> {
    try {
      await this.probe();
    } catch {
      return { ok: false, detail: `${this.kind} unreachable` };
    }
    const sinceFailure = this.now() - this.lastFailureAt;
    if (sinceFailure < FAILED_CALL_HOLD_MS) return { ok: false, detail: `${this.kind} failed a request ${Math.round(sinceFailure)} ms ago` };
    return { ok: true, detail: this.kind };
  }
}
