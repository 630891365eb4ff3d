import type { Cluster, Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { silentLog } from "../../src/lib/log.js";
import { checkRedisSettings, createRedisClient, whenRedisReady } from "../../src/redis/redis-connection.js";
import { startRedisServer, type RedisServerHandle, type RedisServerOptions } from "../support/redis-server.js";
import { recordingLog } from "../support/redis-store.js";

describe("checkRedisSettings", () => {
  let server: RedisServerHandle | undefined;
  let client: Redis | Cluster | undefined;

  afterEach(async () => {
    client?.disconnect();
    await server?.stop();
    client = undefined;
    server = undefined;
  });

  async function warningsFor(options: RedisServerOptions) {
    server = await startRedisServer(options);
    client = createRedisClient(server.url, { commandTimeoutMs: 1000, connectTimeoutMs: 1000, log: silentLog });
    await whenRedisReady(client, 10_000);
    const log = recordingLog();
    await checkRedisSettings(client, log);
    return log.warnings();
  }

  it("is silent for a correctly configured server", async () => {
    expect(await warningsFor({})).toEqual([]);
  });

  it("warns loudly when appendonly is off", async () => {
    const warnings = await warningsFor({ appendonly: false });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toMatch(/REDIS MISCONFIGURED: appendonly is "no" but must be "yes"/);
    expect(warnings[0]?.fields).toMatchObject({ setting: "appendonly", required: "yes", actual: "no" });
  });

  it("warns loudly when Redis may evict keys", async () => {
    const warnings = await warningsFor({ maxmemoryPolicy: "allkeys-lru" });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toMatch(/maxmemory-policy is "allkeys-lru" but must be "noeviction"/);
  });

  it("warns that it could not check when CONFIG is renamed away, and does not throw", async () => {
    const warnings = await warningsFor({ args: ["--rename-command", "CONFIG", ""] });
    expect(warnings.map((warning) => warning.fields.setting)).toEqual(["appendonly", "maxmemory-policy"]);
    for (const warning of warnings) expect(warning.message).toMatch(/NOT CHECKED/);
  });

  it("does not throw when Redis is down", async () => {
    server = await startRedisServer();
    client = createRedisClient(server.url, { commandTimeoutMs: 300, connectTimeoutMs: 300, log: silentLog });
    await whenRedisReady(client, 10_000);
    await server.kill();
    const log = recordingLog();
    await expect(checkRedisSettings(client, log)).resolves.toBeUndefined();
    expect(log.warnings()).toHaveLength(2);
  });
});
