import type { Cluster, Redis } from "ioredis";
import type { Clock } from "../lib/clock.js";
import type { Log } from "../lib/log.js";
import { checkRedisSettings, createRedisClient, whenRedisReady } from "./redis-connection.js";
import { replicationFor } from "./redis-replication.js";
import { createRedisRevocationStore, type RedisRevocationStore } from "./redis-revocation-store.js";
import { redisIssuanceState } from "./redis-issuance-state.js";
import { RedisStoreCore } from "./redis-store-core.js";
import { parseRedisUrl } from "./redis-url.js";
import type { ReadIssuanceState } from "../revocation/issuance-state.js";

/** The Redis settings of the broker's config (REDIS_*). */
export interface RedisSettings {
  readonly url: string;
  readonly commandTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /** Replicas a revocation write must reach ("auto": see revocation-replication.ts). */
  readonly revocationReplicas: number | "auto";
  readonly revocationWaitMs: number;
}

/**
 * Opens the revocation store on REDIS_URL, and with it the client the rate limiter shares (the
 * store owns it and closes it). Throws on a URL it does not accept (the message never repeats the
 * URL). It does not wait for Redis: the broker starts even when Redis is down, requests fail
 * closed (503) and /readyz says why until it is back; once it is ready, its settings are checked.
 */
export function openRedisRevocationStore(
  settings: RedisSettings,
  clock: Clock,
  log: Log,
): { store: RedisRevocationStore; client: Redis | Cluster; issuanceState: ReadIssuanceState | undefined } {
  const client = createRedisClient(settings.url, { commandTimeoutMs: settings.commandTimeoutMs, connectTimeoutMs: settings.connectTimeoutMs, log });
  whenRedisReady(client, settings.connectTimeoutMs).then(
    () => checkRedisSettings(client, log),
    (error: unknown) => log.warn({ reason: error instanceof Error ? error.message : String(error) }, "Redis not reachable yet: exchanges answer 503 until it is"),
  );
  // Revocations are acknowledged once replicated (and, under Sentinel, on the master the Sentinels name).
  const replication = replicationFor(parseRedisUrl(settings.url), {
    replicas: settings.revocationReplicas,
    waitTimeoutMs: settings.revocationWaitMs,
    commandTimeoutMs: settings.commandTimeoutMs,
  });
  // The issuance read works on the store's keys and the limiter's budgets with the same settings.
  return { store: createRedisRevocationStore(client, clock, { log, replication }), client, issuanceState: redisIssuanceState(new RedisStoreCore(client, clock, { log })) };
}
