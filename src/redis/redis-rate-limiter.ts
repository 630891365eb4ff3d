import type { Cluster, Redis } from "ioredis";
import type { Clock } from "../lib/clock.js";
import { sha256Hex } from "../lib/hash.js";
import { intervalMs, RateLimiterUnavailableError, type RateDecision, type RateLimit, type RateLimiter, type RateLimitKey } from "../rate-limit/rate-limiter.js";
import { boundedCall, defaultCallTimeoutMs, evalScript, luaScript } from "./redis-calls.js";
import { coalesceWrites } from "./coalesce-writes.js";

/**
 * Key layout: `broker:rl:<kind>:<SHA-256 of the id>`. Hashing keeps every key the same short
 * length whatever a caller sends, keeps client addresses out of Redis, and (with the kind in the
 * prefix) means no id of one budget can name another's key.
 */
const RATE_LIMIT_KEY_PREFIX = "broker:rl:";

export function rateLimitKey(key: RateLimitKey): string {
  return `${RATE_LIMIT_KEY_PREFIX}${key.kind}:${sha256Hex(key.id)}`;
}

/**
 * Keys already hashed, so a busy client or workload costs no digest per request (two per
 * exchange otherwise). Bounded: emptied when full, so ids a caller makes up cannot grow it.
 */
const KNOWN_KEYS_MAX = 4_096;
const knownKeys = new Map<string, string>();

export function cachedRateLimitKey(key: RateLimitKey): string {
  const lookup = `${key.kind}\n${key.id}`;
  let redisKey = knownKeys.get(lookup);
  if (redisKey === undefined) {
    if (knownKeys.size >= KNOWN_KEYS_MAX) knownKeys.clear();
    redisKey = rateLimitKey(key);
    knownKeys.set(lookup, redisKey);
  }
  return redisKey;
}

/**
 * GCRA (gcra.ts) on one key as a Lua function, for the scripts that charge a budget (TAKE below,
 * and the issuance read of redis-issuance-state.ts): `gcra(key, now ms, interval ms, burst)`
 * answers 1, 0 when allowed (the new TAT is stored, expiring when the budget is full again), or
 * 0 and the ms to wait when refused (nothing is written).
 */
export const GCRA_LUA = `
local function gcra(key, now, interval, burst)
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  local nextTat = tat + interval
  local allowAt = nextTat - burst * interval
  if now < allowAt then return 0, math.ceil(allowAt - now) end
  redis.call('SET', key, nextTat, 'PX', math.max(1, math.ceil(nextTat - now)))
  return 1, 0
end`;

/** KEYS[1] the budget; ARGV: now (ms), interval (ms), burst. One key per call: runs on Redis Cluster too. */
const TAKE = luaScript(`${GCRA_LUA}
local allowed, wait = gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
return {allowed, wait}`);

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
    // As the revocation store: ioredis' command timeout bounds every call, counted from the call.
    this.timeoutMs = options.timeoutMs ?? defaultCallTimeoutMs(client);
  }

  async take(key: RateLimitKey, limit: RateLimit): Promise<RateDecision> {
    const args = [this.clock.now(), intervalMs(limit), limit.burst];
    // The client-address charge is a request's first command, before its body is read: sent from
    // its own socket's callback, so only the iteration's end gathers it with the others'. A
    // workload charge comes mid-request (re-exchange, actors), and leaves with its turn.
    coalesceWrites(this.client, key.kind === "client" ? "iteration" : "turn");
    const reply = await boundedCall("rate limit", () => evalScript(this.client, TAKE, cachedRateLimitKey(key), args), this.timeoutMs, RateLimiterUnavailableError);
    if (!Array.isArray(reply) || typeof reply[0] !== "number" || typeof reply[1] !== "number") {
      throw new RateLimiterUnavailableError("redis rate limit: unexpected reply");
    }
    return reply[0] === 1 ? { allowed: true } : { allowed: false, retryAfterMs: reply[1] };
  }
}
