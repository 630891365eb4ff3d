/**
 * Rate limits on issuance (POST /token and POST /svid/x509): one budget per client address and
 * one per workload. Implementations: MemoryRateLimiter (one process) and RedisRateLimiter (shared
 * by every replica). Both run the same GCRA (gcra.ts); a limiter either answers or throws
 * RateLimiterUnavailableError, and callers fail closed.
 */

/** Which budget a request is charged to. A closed set: it is also a metric label. */
export type LimitKind = "client" | "workload";

/** One budget: `id` is a normalised client address or a workload id. */
export interface RateLimitKey {
  readonly kind: LimitKind;
  readonly id: string;
}

/**
 * A sustained rate of `count` per `periodSeconds`, with up to `burst` requests at once from an idle
 * budget (a token bucket of capacity `burst`, refilled at count/period).
 */
export interface RateLimit {
  readonly count: number;
  readonly periodSeconds: number;
  readonly burst: number;
  /** As configured, e.g. "50/1s,burst=500": for messages and the audit record. */
  readonly text: string;
}

export type RateDecision = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterMs: number };

export interface RateLimiter {
  /** Which implementation this is, for logs. */
  readonly kind: "memory" | "redis";
  /** Takes one request from the key's budget: allowed, or refused with the wait until one would be. */
  take(key: RateLimitKey, limit: RateLimit): Promise<RateDecision>;
}

/** The limiter could not answer (Redis down, slow or refusing): the request must not proceed. */
export class RateLimiterUnavailableError extends Error {
  override readonly name = "RateLimiterUnavailableError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The same limiter, telling `onUnavailable` each time it cannot answer (readiness). */
export function reportingOutages(limiter: RateLimiter, onUnavailable: () => void): RateLimiter {
  return {
    kind: limiter.kind,
    take: async (key, limit) => {
      try {
        return await limiter.take(key, limit);
      } catch (error) {
        if (error instanceof RateLimiterUnavailableError) onUnavailable();
        throw error;
      }
    },
  };
}

/** Milliseconds between two requests at the sustained rate. */
export function intervalMs(limit: RateLimit): number {
  return (limit.periodSeconds * 1000) / limit.count;
}
