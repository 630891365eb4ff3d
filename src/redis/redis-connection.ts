import { Cluster, Redis, type RedisOptions } from "ioredis";
import type { Log } from "../lib/log.js";
import { parseRedisUrl, redactRedisUrl, type RedisTarget } from "./redis-url.js";

export { parseRedisUrl, redactRedisUrl, type RedisAddress, type RedisTarget } from "./redis-url.js";

export interface RedisClientOptions {
  /** Every command fails after this long (fail closed instead of waiting). */
  readonly commandTimeoutMs: number;
  /** A connection attempt is abandoned after this long (then retried with backoff). */
  readonly connectTimeoutMs: number;
  readonly log: Log;
}

/** Reconnect forever, backing off to at most one second between attempts: recovery needs no restart. */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(Math.max(attempt, 1) * 100, 1000);
}

/** After a failover the old master answers READONLY: reconnect (to the new master) and resend. */
const reconnectOnReadonly: NonNullable<RedisOptions["reconnectOnError"]> = (error) => (error.message.startsWith("READONLY") ? 2 : false);

/** A Cluster client re-reads the slot map (CLUSTER SLOTS) this often, whatever happens. */
const CLUSTER_SLOTS_REFRESH_INTERVAL_MS = 5_000;

/** How often a continuing connection error is repeated in the log. */
const ERROR_LOG_INTERVAL_MS = 10_000;

/**
 * Creates an ioredis client for REDIS_URL (standalone, Sentinel or Cluster; see
 * ACCEPTED_REDIS_URL_FORMS), configured to fail closed: while disconnected every command fails at
 * once (no offline queue), a command that gets no answer fails after `commandTimeoutMs`, and the
 * client reconnects by itself forever. It connects at once; commands fail until it is ready
 * (`whenRedisReady` waits for that). Throws on a URL it does not accept. The URL is only ever
 * logged redacted.
 */
export function createRedisClient(url: string, options: RedisClientOptions): Redis | Cluster {
  const target = parseRedisUrl(url);
  const client = buildClient(target, options);
  watchConnection(client, redactRedisUrl(url), target.mode, options.log);
  return client;
}

function buildClient(target: RedisTarget, options: RedisClientOptions): Redis | Cluster {
  // Per connection; for a Cluster, per node connection.
  const connection = {
    username: target.username,
    password: target.password,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: options.connectTimeoutMs,
    // A command in flight when the connection drops is failed, not resent a minute later.
    maxRetriesPerRequest: 0,
    reconnectOnError: reconnectOnReadonly,
  } satisfies RedisOptions;
  // Auto-pipelining off everywhere. On a Cluster it breaks redirections (below). On standalone and
  // Sentinel it saves write calls but costs more than it saves: ioredis builds a Pipeline object
  // (a promise, a copy of the client's script commands, a getter defined per instance) for each
  // event-loop turn with a command, and every command is queued twice. Paired on the cold
  // exchange (bench/ab-cold.ts, 2 × 10 rounds) it cost 3–5 % more broker CPU and ~8 µs more GC
  // per exchange, at the same req/s (bench/README.md, sixth round).
  const common = { ...connection, enableAutoPipelining: false, lazyConnect: false } satisfies RedisOptions;

  switch (target.mode) {
    case "standalone":
      return new Redis({
        ...common,
        host: target.host,
        port: target.port,
        db: target.db,
        tls: target.tls ? { servername: target.host } : undefined,
        enableOfflineQueue: false,
        retryStrategy: reconnectDelayMs,
      });
    case "sentinel":
      return new Redis({
        ...common,
        sentinels: target.sentinels.map(({ host, port }) => ({ host, port })),
        name: target.masterName,
        role: "master",
        db: target.db,
        sentinelCommandTimeout: options.commandTimeoutMs,
        // Subscribes to the sentinels' +switch-master so a failover is followed at once.
        failoverDetector: true,
        enableOfflineQueue: false,
        retryStrategy: reconnectDelayMs,
      });
    case "cluster":
      return new Cluster(
        target.nodes.map(({ host, port }) => ({ host, port })),
        {
          enableOfflineQueue: false,
          // Off on a Cluster: ioredis batches commands for several slots of one master into one
          // pipeline, and when such a pipeline is redirected (MOVED, one slot number per command)
          // it neither follows the redirection nor refreshes its slot map (ioredis issue #2075).
          // After a master restarts, that left every key of it failing with "MOVED <slot> <that
          // master>" until the broker restarted. Single commands are redirected one by one.
          enableAutoPipelining: false,
          lazyConnect: false,
          clusterRetryStrategy: reconnectDelayMs,
          slotsRefreshTimeout: options.connectTimeoutMs,
          // A slot map gone stale any other way is corrected within this bound.
          slotsRefreshInterval: CLUSTER_SLOTS_REFRESH_INTERVAL_MS,
          redisOptions: connection,
        },
      );
  }
}

/** Logs state changes; repeats a continuing error at most every ERROR_LOG_INTERVAL_MS. */
function watchConnection(client: Redis | Cluster, redactedUrl: string, mode: RedisTarget["mode"], log: Log): void {
  let lastErrorLoggedAt = 0;
  let lastErrorMessage = "";
  const onError = (error: Error): void => {
    const now = Date.now();
    if (error.message === lastErrorMessage && now - lastErrorLoggedAt < ERROR_LOG_INTERVAL_MS) return;
    lastErrorLoggedAt = now;
    lastErrorMessage = error.message;
    log.warn({ redis: redactedUrl, mode, err: error.message }, "redis connection error: revocation checks fail closed until it recovers");
  };
  client.on("error", onError);
  if (client instanceof Cluster) client.on("node error", onError);
  client.on("ready", () => {
    lastErrorMessage = "";
    log.info({ redis: redactedUrl, mode }, "redis ready");
  });
}

/**
 * Resolves once the client is ready for commands; rejects (without closing the client) when it is
 * not within `timeoutMs`.
 */
export async function whenRedisReady(client: Redis | Cluster, timeoutMs: number): Promise<void> {
  if (client.status === "ready") return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off("ready", onReady);
      reject(new Error(`redis not ready within ${timeoutMs} ms (status ${client.status})`));
    }, timeoutMs);
    const onReady = (): void => {
      clearTimeout(timer);
      resolve();
    };
    client.once("ready", onReady);
  });
}

/**
 * Checks the server settings revocation needs: `appendonly yes` (an acknowledged revocation
 * survives a restart) and `maxmemory-policy noeviction` (Redis never drops a revocation to make
 * room). Warns loudly when either is wrong, or when CONFIG is unavailable (managed Redis often
 * renames it) so they could not be checked. Never throws. On a Cluster every master is checked.
 */
export async function checkRedisSettings(client: Redis | Cluster, log: Log): Promise<void> {
  const nodes: Redis[] = client instanceof Cluster ? client.nodes("master") : [client];
  for (const node of nodes) {
    const where = client instanceof Cluster ? `${node.options.host}:${node.options.port}` : undefined;
    for (const [setting, required] of REQUIRED_SETTINGS) {
      let actual: string | undefined;
      try {
        const reply = await node.config("GET", setting);
        actual = Array.isArray(reply) && typeof reply[1] === "string" ? reply[1] : undefined;
      } catch (error) {
        log.warn(
          { setting, required, node: where, err: error instanceof Error ? error.message : String(error) },
          `REDIS SETTING NOT CHECKED: could not read ${setting} (CONFIG GET is unavailable, e.g. renamed by a managed Redis). ` +
            `Make sure ${setting} is ${required}, or revocations may be lost`,
        );
        continue;
      }
      if (actual === undefined) {
        log.warn({ setting, required, node: where }, `REDIS SETTING NOT CHECKED: the server did not report ${setting}. Make sure it is ${required}`);
      } else if (actual.toLowerCase() !== required) {
        log.warn(
          { setting, required, actual, node: where },
          `REDIS MISCONFIGURED: ${setting} is "${actual}" but must be "${required}": ${SETTING_RISKS[setting]}`,
        );
      }
    }
  }
}

const REQUIRED_SETTINGS = [
  ["appendonly", "yes"],
  ["maxmemory-policy", "noeviction"],
] as const;

const SETTING_RISKS: Record<(typeof REQUIRED_SETTINGS)[number][0], string> = {
  appendonly: "without the append-only file a Redis restart forgets acknowledged revocations",
  "maxmemory-policy": "under memory pressure Redis may evict revocations and revoked credentials become active again",
};
