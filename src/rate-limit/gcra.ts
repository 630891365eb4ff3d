import { intervalMs, type RateDecision, type RateLimit } from "./rate-limiter.js";

/**
 * GCRA (the generic cell rate algorithm, ITU-T I.371), the token bucket expressed as one number
 * per key: the theoretical arrival time (TAT) of the next request at the sustained rate. A request
 * is allowed when, after charging it, the TAT lies at most `burst` intervals ahead of now. One
 * number per key is what makes the Redis form a single atomic read-and-set on one key.
 *
 * redis-rate-limiter.ts holds the same arithmetic in Lua; test/rate-limit/limiters.test.ts checks that both agree.
 */
export function gcra(storedTat: number | undefined, nowMs: number, limit: RateLimit): { decision: RateDecision; tat: number | undefined } {
  const interval = intervalMs(limit);
  const tat = Math.max(storedTat ?? nowMs, nowMs);
  const next = tat + interval;
  const allowAt = next - limit.burst * interval;
  if (nowMs < allowAt) return { decision: { allowed: false, retryAfterMs: allowAt - nowMs }, tat: storedTat };
  return { decision: { allowed: true }, tat: next };
}
