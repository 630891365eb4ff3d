import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRedisServer, type RedisServerHandle } from "../support/redis-server.js";
import { clockNearNow, revocationStoreContract } from "../support/revocation-store-contract.js";
import { eventually, openRedisStore, rawClient } from "../support/redis-store.js";

/**
 * The same contract through redis+sentinel://: the client asks a real Sentinel for the master.
 * The master has a replica: under Sentinel a revocation is acknowledged once a replica has it.
 */
let master: RedisServerHandle;
let masterReplica: RedisServerHandle;
let sentinel: RedisServerHandle;
let raw: Redis;
let url: string;

beforeAll(async () => {
  // No 5 s wait before the first (diskless) sync: the replica is linked at once.
  master = await startRedisServer({ args: ["--repl-diskless-sync-delay", "0"] });
  masterReplica = await startRedisServer({ args: ["--replicaof", "127.0.0.1", String(master.port)] });
  sentinel = await startRedisServer({ sentinelFor: { masterName: "brokermaster", masterPort: master.port } });
  raw = rawClient(master.url);
  await linked(master);
  url = `redis+sentinel://127.0.0.1:${sentinel.port}/brokermaster`;
});

/**
 * Waits until `primary` counts its replica in WAIT: after the first sync, a master streams to a
 * replica (and WAIT counts it) from the replica's first acknowledgement, up to a second later.
 */
async function linked(primary: RedisServerHandle): Promise<void> {
  const cli = new Redis(primary.url);
  try {
    await eventually(async () => {
      await cli.set("linked-probe", "1");
      expect(await cli.wait(1, 100)).toBe(1);
    }, 15_000, 50);
    await cli.del("linked-probe");
  } finally {
    cli.disconnect();
  }
}

afterAll(async () => {
  await raw?.quit();
  await sentinel?.stop();
  await masterReplica?.stop();
  await master?.stop();
});

revocationStoreContract("RedisRevocationStore (Sentinel)", () => ({
  open: (clock) => openRedisStore(url, clock),
  peer: (clock) => openRedisStore(url, clock),
  reset: async () => {
    await raw.flushall();
  },
}));

describe("RedisRevocationStore through a Sentinel failover", () => {
  it("follows the new master after a failover (READONLY / +switch-master) and keeps every revocation", async () => {
    const primary = await startRedisServer({ args: ["--repl-diskless-sync-delay", "0"] });
    const replica = await startRedisServer({ args: ["--replicaof", "127.0.0.1", String(primary.port)] });
    const watcher = await startRedisServer({ sentinelFor: { masterName: "failmaster", masterPort: primary.port } });
    const sentinelCli = new Redis(watcher.url);
    const clock = clockNearNow();
    const now = clock.now() / 1000;
    const store = await openRedisStore(`redis+sentinel://127.0.0.1:${watcher.port}/failmaster`, clock);
    try {
      await linked(primary);
      await store.revokeWorkload({ actor: "a", reason: "r", at: now, workloadId: "wl-a", revokedAt: now, expiresAt: now + 600 });
      // The replica has the entry and the Sentinel knows the replica: then force a failover.
      const replicaCli = new Redis(replica.url);
      await eventually(async () => expect(await replicaCli.exists("broker:rev:wl:wl-a")).toBe(1), 10_000);
      await replicaCli.quit();
      await eventually(async () => {
        const replicas = (await sentinelCli.call("SENTINEL", "REPLICAS", "failmaster")) as unknown[];
        expect(replicas.length).toBe(1);
      }, 15_000, 200);
      // NOGOODSLAVE until the Sentinel has fresh INFO from the replica: retry within a bound.
      await eventually(() => sentinelCli.call("SENTINEL", "FAILOVER", "failmaster"), 15_000, 200);
      await eventually(async () => {
        const address = (await sentinelCli.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "failmaster")) as string[];
        expect(Number(address[1])).toBe(replica.port);
      }, 15_000, 200);

      // Writes through the same store reach the new master within a bound, by themselves. Until the
      // Sentinel demotes the old master and it rejoins as the new master's replica, a revocation has
      // no replica to reach and is refused (503), never acknowledged; once it succeeds, it is on
      // the new master.
      const onNewMaster = new Redis(replica.url);
      await eventually(async () => {
        await store.revokeToken({ actor: "a", reason: "r", at: now, jti: "after-failover", expiresAt: now + 600 });
      }, 30_000, 100);
      expect(await onNewMaster.exists("broker:rev:jti:after-failover")).toBe(1);
      await onNewMaster.quit();
      expect(await store.tokenStatus({ jti: "x", sub: "wl-a", iat: now })).toBe("revoked");
    } finally {
      await store.close();
      sentinelCli.disconnect();
      await watcher.stop();
      await replica.stop();
      await primary.stop();
    }
  }, 60_000);
});
