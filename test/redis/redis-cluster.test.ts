import calculateSlot from "cluster-key-slot";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLog } from "../../src/lib/log.js";
import { checkRedisSettings, createRedisClient, whenRedisReady } from "../../src/redis/redis-connection.js";
import { redisKey } from "../../src/redis/redis-revocation-store.js";
import { StoreUnavailableError } from "../../src/revocation/revocation-store.js";
import { startRedisCluster, type RedisClusterHandle } from "../support/redis-server.js";
import { clockNearNow, revocationStoreContract } from "../support/revocation-store-contract.js";
import { clock as faultClock, expectAllUnavailable, expectSeedInForce, seed } from "../support/redis-fault-checks.js";
import { eventually, openRedisStore, recordingLog } from "../support/redis-store.js";

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
      // 100 at a time: each call is bounded by the command timeout, on a loaded machine too.
      for (let start = 0; start < ids.length; start += 100) {
        await Promise.all(
          ids.slice(start, start + 100).map((workloadId) => store.revokeWorkload({ actor: "a", reason: "r", at: now, workloadId, revokedAt: now, expiresAt: now + 600 })),
        );
      }
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

describe("RedisRevocationStore when one Cluster master restarts", () => {
  it("down: ping and the listings reject; back: it answers for that master's keys, two slots in one call, within 2 s of cluster_state:ok", async () => {
    // A token whose jti and workload keys are two slots of one master: one tokenStatus sends both
    // to it at once. With ioredis auto-pipelining on, such a call redirected by MOVED was never
    // followed, and the store stayed on "MOVED <slot> <that master>" for good.
    const now = faultClock.now() / 1000;
    const sub = "wl-restarted-master";
    const { server: master, ranges } = await cluster.masterOf(calculateSlot(redisKey("workload", sub)));
    const onMaster = (key: string) => ranges.some(([start, end]) => calculateSlot(key) >= start && calculateSlot(key) <= end);
    let jti = "";
    for (let n = 0; jti === "" || !onMaster(redisKey("jti", jti)); n++) jti = `jti-restarted-master-${n}`;
    expect(calculateSlot(redisKey("jti", jti))).not.toBe(calculateSlot(redisKey("workload", sub)));
    const token = { jti, sub, iat: now };

    const store = await openRedisStore(cluster.url, faultClock);
    try {
      await store.revokeWorkload({ actor: "a", reason: "r", at: now, workloadId: sub, revokedAt: now, expiresAt: now + 600 });
      expect(await store.tokenStatus(token)).toBe("revoked");

      await master.kill();
      await expect(store.tokenStatus(token)).rejects.toBeInstanceOf(StoreUnavailableError);
      // The master is gone from the client's pool now. Readiness and the listings must not take
      // the other two masters for the whole cluster: a listing without this master's entries
      // would drop its revocations (and SVID serials from the CRL).
      await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(store.list()).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(store.revokedSvids()).rejects.toBeInstanceOf(StoreUnavailableError);
      await master.restart();
      await eventually(async () => expect(await cluster.stateOk()).toBe(true), 20_000, 50);
      // Only the call itself now: no ping, no listing (either would reconnect the master another way).
      await eventually(async () => expect(await store.tokenStatus(token)).toBe("revoked"), 2_000, 25);
    } finally {
      await store.close();
    }
  }, 40_000);
});
