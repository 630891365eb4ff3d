import { Redis } from "ioredis";
import { afterAll, beforeAll } from "vitest";
import type { Log } from "../../src/lib/log.js";
import { silentLog } from "../../src/lib/log.js";
import { createRedisClient, parseRedisUrl, whenRedisReady } from "../../src/redis/redis-connection.js";
import { replicationFor } from "../../src/redis/redis-replication.js";
import { defaultWaitTimeoutMs } from "../../src/redis/revocation-replication.js";
import { createRedisRevocationStore, type RedisRevocationStore, type RedisRevocationStoreOptions } from "../../src/redis/redis-revocation-store.js";
import type { Clock } from "../../src/lib/clock.js";
import { startRedisServer, type RedisServerHandle } from "./redis-server.js";

export const COMMAND_TIMEOUT_MS = 400;

/**
 * A store over a fail-closed client from createRedisClient, once the client is ready, with the
 * replication rule the broker uses for that URL ("auto") unless `options.replication` says otherwise.
 */
export async function openRedisStore(
  url: string,
  clock: Clock,
  options: RedisRevocationStoreOptions & { log?: Log } = {},
): Promise<RedisRevocationStore> {
  const client = createRedisClient(url, { commandTimeoutMs: COMMAND_TIMEOUT_MS, connectTimeoutMs: COMMAND_TIMEOUT_MS, log: options.log ?? silentLog });
  await whenRedisReady(client, 10_000);
  const replication =
    options.replication ??
    replicationFor(parseRedisUrl(url), { replicas: "auto", waitTimeoutMs: defaultWaitTimeoutMs(COMMAND_TIMEOUT_MS), commandTimeoutMs: COMMAND_TIMEOUT_MS });
  return createRedisRevocationStore(client, clock, { ...options, replication });
}

/** A plain client for looking behind the store (TTLs, raw values). */
export function rawClient(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: 1 });
}

/**
 * A redis-server of this test file's own and a raw client on it: started before its tests,
 * stopped after them. Read `server` and `raw` inside tests and hooks, once they have started.
 */
export function redisServerForSuite(): { readonly server: RedisServerHandle; readonly raw: Redis } {
  let server: RedisServerHandle | undefined;
  let raw: Redis | undefined;
  beforeAll(async () => {
    server = await startRedisServer();
    raw = rawClient(server.url);
  });
  afterAll(async () => {
    await raw?.quit();
    await server?.stop();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error("the suite's redis-server is not started yet: use it inside a test or a hook");
    return value;
  };
  return {
    get server() {
      return started(server);
    },
    get raw() {
      return started(raw);
    },
  };
}

export interface LogRecord {
  readonly level: "debug" | "info" | "warn" | "error";
  readonly fields: Record<string, unknown>;
  readonly message: string;
}

export function recordingLog(): Log & { readonly records: LogRecord[]; warnings(): LogRecord[] } {
  const records: LogRecord[] = [];
  const at = (level: LogRecord["level"]) => (fields: object, message: string) => {
    records.push({ level, fields: fields as Record<string, unknown>, message });
  };
  return {
    records,
    warnings: () => records.filter((record) => record.level === "warn"),
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
  };
}

/** Settles `promise` or fails once `ms` have passed: a bound on waiting, not a speed assertion. */
export async function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `attempt` until it resolves, up to a deadline. */
export async function eventually<T>(attempt: () => Promise<T>, deadlineMs: number, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
