import type { Cluster, Redis } from "ioredis";
import type { Clock } from "../lib/clock.js";
import type { RevocationStore } from "../revocation/revocation-store.js";
import { redisIssuanceChecks } from "./redis-issuance-checks.js";
import { redisListing } from "./redis-listing.js";
import { redisRevocationWrites } from "./redis-revocation-writes.js";
import { RedisStoreCore, type RedisRevocationStoreOptions } from "./redis-store-core.js";
import { redisSvidRegistry } from "./redis-svid-registry.js";

export { redisKey } from "./redis-keys.js";
export type { RedisRevocationStoreOptions } from "./redis-store-core.js";

/** The revocation store on Redis: every role of {@link RevocationStore}. */
export type RedisRevocationStore = RevocationStore & { readonly kind: "redis" };

/**
 * Revocation state in Redis, shared by every replica. Reads and writes go straight to Redis (no
 * local cache), so a revocation acknowledged through one replica is honoured by every replica on
 * its next request. Every failure (refused, timeout, READONLY, cluster down, closed) becomes
 * StoreUnavailableError within `timeoutMs`. The store owns the client: `close()` closes it.
 *
 * One module per role over a shared core (redis-store-core.ts): the hot-path checks
 * (redis-issuance-checks.ts), the operator's writes (redis-revocation-writes.ts) and listings
 * (redis-listing.ts), the X.509-SVID registry (redis-svid-registry.ts); key layout in
 * redis-keys.ts.
 */
export function createRedisRevocationStore(client: Redis | Cluster, clock: Clock, options: RedisRevocationStoreOptions = {}): RedisRevocationStore {
  const redis = new RedisStoreCore(client, clock, options);
  return {
    kind: "redis",
    ...redisIssuanceChecks(redis),
    ...redisRevocationWrites(redis),
    ...redisListing(redis),
    ...redisSvidRegistry(redis),
    ping: () => redis.run("ping", () => redis.probe()),
    close: () => redis.close(),
  };
}
