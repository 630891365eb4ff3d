import { createHash } from "node:crypto";
import { Cluster, type Redis } from "ioredis";
import type { Clock } from "../lib/clock.js";
import { sha256Hex } from "../lib/hash.js";
import { intervalMs, RateLimiterUnavailableError, type RateDecision, type RateLimit, type RateLimiter, type RateLimitKey } from "../rate-limit/rate-limiter.js";

/**
 * Key layout: `broker:rl:<kind>:<SHA-256 of the id>`. Hashing keeps every key the same short
 * length whatever a caller sends, keeps client addresses out of Redis, and (with the kind in the
 * prefix) means no id of one budget can name another's key.
 */
export const RATE_LIMIT_KEY_PREFIX = "broker:rl:";

export function rateLimitKey(key: RateLimitKey): string {
  return `${RATE_LIMIT_KEY_PREFIX}${key.kind}:${sha256Hex(key.id)}`;
}

/**
 * GCRA (gcra.ts) on one key, atomically. KEYS[1] the budget; ARGV: now (ms), interval (ms), burst.
 * Answers {1, 0} when allowed (the new TAT is stored, expiring when the budget is full again), or
 * {0, ms to wait} when refused (nothing is written). One key per call: runs on Redis Cluster too.
 */
const TAKE = `
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local nextTat = tat + interval
local allowAt = nextTat - tonumber(ARGV[3]) * interval
if now < allowAt then return {0, math.ceil(allowAt - now)} end
redis.call('SET', KEYS[1], nextTat, 'PX', math.max(1, math.ceil(nextTat - now)))
return {1, 0}`;
const TAKE_SHA = createHash("sha1").update(TAKE).digest("hex");

/**
 * Rate limits in Redis, shared by every replica: the budget of a client or workload is one count
 * whichever replica a request reaches. It uses the revocation store's client (one connection
 * pool; the store closes it). Time comes from the injected clock, so replicas should run NTP: a
 * clock skew of d shifts a budget by d / interval requests. Every failure (refused, timeout,
 * cluster down, a reply it cannot read) becomes RateLimiterUnavailableError within `timeoutMs`.
 */
export class RedisRateLimiter implements RateLimiter {
  readonly kind = "redis";
  private readonly timeoutMs: number;

  constructor(
    private readonly client: Redis | Cluster,
    private readonly clock: Clock,
    options: { readonly timeoutMs?: number } = {},
  ) {
    const commandTimeout = client instanceof Cluster ? client.options.redisOptions?.commandTimeout : client.options.commandTimeout;
    // As the revocation store: ioredis' command timeout bounds every call, counted from the call.
    this.timeoutMs = options.timeoutMs ?? commandTimeout ?? 1000;
  }

  async take(key: RateLimitKey, limit: RateLimit): Promise<RateDecision> {
    const reply = await this.run(() => this.evaluate(rateLimitKey(key), [this.clock.now(), intervalMs(limit), limit.burst]));
    if (!Array.isArray(reply) || typeof reply[0] !== "number" || typeof reply[1] !== "number") {
      throw new RateLimiterUnavailableError("redis rate limit: unexpected reply");
    }
    return reply[0] === 1 ? { allowed: true } : { allowed: false, retryAfterMs: reply[1] };
  }

  /** EVALSHA, falling back to EVAL when the server does not know the script yet (NOSCRIPT). */
  private async evaluate(key: string, args: readonly number[]): Promise<unknown> {
    try {
      return await this.client.evalsha(TAKE_SHA, 1, key, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return this.client.eval(TAKE, 1, key, ...args);
    }
  }

  /** Bounds `work` by timeoutMs and turns every failure into RateLimiterUnavailableError. */
  private async run<T>(work: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new RateLimiterUnavailableError(`redis rate limit: no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      return await Promise.race([work(), deadline]);
    } catch (error) {
      if (error instanceof RateLimiterUnavailableError) throw error;
      throw new RateLimiterUnavailableError(`redis rate limit failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }
}
