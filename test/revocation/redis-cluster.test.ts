import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLog } from "../../src/lib/log.js";
import { checkRedisSettings, createRedisClient, whenRedisReady } from "../../src/revocation/redis-connection.js";
import { startRedisCluster, type RedisClusterHandle } from "../support/redis-server.js";
import { clockNearNow, revocationStoreContract } from "./contract.js";
import { clock as faultClock, expectAllUnavailable, expectSeedInForce, seed } from "./fault-checks.js";
import { eventually, openRedisStore, recordingLog } from "./helpers.js";

/** The same contract through redis+cluster:// against three real masters: keys spread over slots. */
let cluster: RedisClusterHandle;
let nodes: Redis[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster();
  nodes = cluster.servers.map((server) => new Redis(server.url, { maxRetriesPerRequest: 1 }));
}, 60_000);

afterAll(async () => {
  await Promise.all(nodes.map((node) => node.quit()));
  await cluster?.stop();
});

revocationStoreContract("RedisRevocationStore (3-master Redis Cluster)", () => ({
  open: (clock) => openRedisStore(cluster.url, clock),
  peer: (clock) => openRedisStore(cluster.url, clock),
  reset: async () => {
    await Promise.all(nodes.map((node) => node.flushall()));
  },
}));

describe("RedisRevocationStore on a Cluster", () => {
  it("spreads entries over every master and lists them all (SCAN on each master)", async () => {
    const clock = clockNearNow();
    const now = clock.now() / 1000;
    const store = await openRedisStore(cluster.url, clock);
    try {
      const ids = Array.from({ length: 300 }, (_unused, index) => `wl-${index}`);
      await Promise.all(
        ids.map((workloadId) => store.revokeWorkload({ actor: "a", reason: "r", at: now, workloadId, revokedAt: now, expiresAt: now + 600 })),
      );
      const perNode = await Promise.all(nodes.map((node) => node.dbsize()));
      for (const count of perNode) expect(count).toBeGreaterThan(0);
      expect(perNode.reduce((sum, count) => sum + count, 0)).toBe(300);
      const { workloads } = await store.list();
      expect(workloads.map((entry) => entry.workloadId).sort()).toEqual([...ids].sort());
    } finally {
      await store.close();
    }
  });

  it("checks the settings on every master", async () => {
    const client = createRedisClient(cluster.url, { commandTimeoutMs: 1000, connectTimeoutMs: 1000, log: silentLog });
    try {
      await whenRedisReady(client, 10_000);
      const log = recordingLog();
      await checkRedisSettings(client, log);
      expect(log.warnings()).toEqual([]);
    } finally {
      client.disconnect();
    }
  });
});

describe("RedisRevocationStore when the Cluster fails", () => {
  it("every master killed: every call rejects within the bound; restarted: the same store recovers with its revocations", async () => {
    const store = await openRedisStore(cluster.url, faultClock);
    try {
      await seed(store, "iss|cluster-before-kill");
      await Promise.all(cluster.servers.map((server) => server.kill()));
      await expectAllUnavailable(store);

      await Promise.all(cluster.servers.map((server) => server.restart()));
      // Every master answers (ping, and list() which scans each), then the checks run once.
      await eventually(() => store.ping().then(() => store.list()), 20_000, 200);
      await expectSeedInForce(store, "iss|cluster-before-kill");
    } finally {
      await store.close();
    }
  }, 40_000);
});
