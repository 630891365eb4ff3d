import type { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InventoryUnavailableError, type InventoryBounds } from "../../src/inventory/inventory-store.js";
import { ManualClock } from "../../src/lib/clock.js";
import { silentLog } from "../../src/lib/log.js";
import { createRedisClient, whenRedisReady } from "../../src/redis/redis-connection.js";
import { INVENTORY_INDEX_KEY, RedisInventoryStore } from "../../src/redis/redis-inventory-store.js";
import { inventoryStoreContract, type InventoryHarness } from "../support/inventory-store-contract.js";
import { startRedisCluster, startRedisServer, type RedisClusterHandle, type RedisServerHandle } from "../support/redis-server.js";
import { COMMAND_TIMEOUT_MS, rawClient } from "../support/redis-store.js";

let server: RedisServerHandle;
let cluster: RedisClusterHandle;
let raw: Redis;
let clusterNodes: Redis[] = [];

beforeAll(async () => {
  [server, cluster] = await Promise.all([startRedisServer(), startRedisCluster()]);
  raw = rawClient(server.url);
  clusterNodes = cluster.servers.map((node) => rawClient(node.url));
}, 60_000);

afterAll(async () => {
  await raw?.quit();
  await Promise.all(clusterNodes.map((node) => node.quit()));
  await Promise.all([server?.stop(), cluster?.stop()]);
});

/** A harness over the broker's own client kind (createRedisClient), emptied before each store. */
function harness(url: () => string, flush: () => Promise<unknown>): () => InventoryHarness {
  const clients: (Redis | Cluster)[] = [];
  return () => ({
    async open(clock: ManualClock, bounds: InventoryBounds) {
      await flush();
      const client = createRedisClient(url(), { commandTimeoutMs: COMMAND_TIMEOUT_MS, connectTimeoutMs: COMMAND_TIMEOUT_MS, log: silentLog });
      clients.push(client);
      await whenRedisReady(client, 10_000);
      return new RedisInventoryStore(client, clock, bounds);
    },
    async elapse(clock: ManualClock, ms: number) {
      clock.advance(ms);
      await new Promise((resolve) => setTimeout(resolve, ms));
    },
    async close() {
      for (const client of clients.splice(0)) client.disconnect();
    },
  });
}

inventoryStoreContract("RedisInventoryStore (standalone)", harness(() => server.url, () => raw.flushall()));
inventoryStoreContract("RedisInventoryStore (3-master Cluster)", harness(() => cluster.url, () => Promise.all(clusterNodes.map((node) => node.flushall()))));

describe("RedisInventoryStore: the bounds in Redis itself", () => {
  const open = harness(() => server.url, () => raw.flushall());

  it("a workload's hash keeps at most 25 hour and 61 minute fields, and every key carries the TTL", async () => {
    const clock = new ManualClock(Math.floor(Date.now() / 60_000) * 60_000);
    const store = await open().open(clock, { ttlSeconds: 86_400, maxWorkloads: 10 });
    try {
      // One issuance every 20 minutes for three days, each credential living an hour.
      for (let minute = 0; minute < 3 * 24 * 60; minute += 20) {
        await store.record({ workloadId: "wl-a", policyId: "pol", issuer: "iss", tokenType: "access_token", audiences: ["https://a"], scopes: [], issuedAtMs: clock.now(), expiresAt: clock.now() / 1000 + 3600 });
        clock.advance(20 * 60_000);
      }
      const fields = await raw.hkeys("broker:inv:wl:wl-a");
      expect(fields.filter((field) => field.startsWith("h:")).length).toBeLessThanOrEqual(25);
      expect(fields.filter((field) => field.startsWith("m:")).length).toBeLessThanOrEqual(61);
      for (const key of ["broker:inv:wl:wl-a", "broker:inv:pol:pol", INVENTORY_INDEX_KEY]) {
        const ttl = await raw.pttl(key);
        expect(ttl, key).toBeGreaterThan(86_000_000);
        expect(ttl, key).toBeLessThanOrEqual(86_400_000);
      }
    } finally {
      await open().close();
    }
  });

  it("rewrites the index entry and a policy's grant fields at most once a minute per replica; the workload's hash every time", async () => {
    const clock = new ManualClock(Date.now());
    const store = await open().open(clock, { ttlSeconds: 86_400, maxWorkloads: 10 });
    const issue = () => store.record({ workloadId: "wl-a", policyId: "pol", issuer: "iss", tokenType: "access_token", audiences: ["https://a"], scopes: [], issuedAtMs: clock.now(), expiresAt: clock.now() / 1000 + 600 });
    try {
      const first = clock.now();
      await issue();
      clock.advance(1_000);
      await issue();
      expect(Number(await raw.zscore(INVENTORY_INDEX_KEY, "wl-a"))).toBe(first);
      expect(Number(await raw.hget("broker:inv:pol:pol", "last"))).toBe(first);
      expect(Number(await raw.hget("broker:inv:wl:wl-a", "last"))).toBe(clock.now());
      clock.advance(60_000);
      await issue();
      expect(Number(await raw.zscore(INVENTORY_INDEX_KEY, "wl-a"))).toBe(clock.now());
      expect(Number(await raw.hget("broker:inv:pol:pol", "last"))).toBe(clock.now());
      expect((await store.usage(["wl-a"]))[0]?.issuedLast24h).toBe(3);
    } finally {
      await open().close();
    }
  });

  it("a stalled Redis makes a write fail within the deadline, as InventoryUnavailableError", async () => {
    const clock = new ManualClock(Date.now());
    const store = await open().open(clock, { ttlSeconds: 60, maxWorkloads: 10 });
    server.pause();
    try {
      const started = Date.now();
      await expect(store.record({ workloadId: "wl", policyId: undefined, issuer: undefined, tokenType: "access_token", audiences: [], scopes: [], issuedAtMs: clock.now(), expiresAt: clock.now() / 1000 + 60 })).rejects.toBeInstanceOf(InventoryUnavailableError);
      expect(Date.now() - started).toBeLessThan(COMMAND_TIMEOUT_MS + 1_000);
      await expect(store.workloadIds({ offset: 0, limit: 1 })).rejects.toBeInstanceOf(InventoryUnavailableError);
    } finally {
      server.resume();
      await open().close();
    }
  });
});
