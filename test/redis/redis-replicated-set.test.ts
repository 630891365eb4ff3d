/**
 * The SVID record's write (redis-replicated-write.ts `replicatedSet`): on a Redis without replicas
 * it is ROLE and SET on the auto-pipeline, without CLIENT INFO or WAIT; once a replica is
 * connected, the record is still acknowledged only after WAIT counted it on the replica, and the
 * writes that follow go straight to the long path. Counted from the server's INFO commandstats.
 */
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redisKey } from "../../src/redis/redis-revocation-store.js";
import { startRedisServer, type RedisServerHandle } from "../support/redis-server.js";
import { clockNearNow } from "../support/revocation-store-contract.js";
import { eventually, openRedisStore, rawClient } from "../support/redis-store.js";

const clock = clockNearNow();
const now = Math.floor(clock.now() / 1000);
let primary: RedisServerHandle;
let replica: RedisServerHandle | undefined;
let raw: Redis;

beforeAll(async () => {
  primary = await startRedisServer({ args: ["--repl-diskless-sync-delay", "0"] });
  raw = rawClient(primary.url);
});

afterAll(async () => {
  await raw?.quit();
  await replica?.stop();
  await primary?.stop();
});

/** Calls of each command the server ran so far (INFO commandstats: `cmdstat_<name>:calls=N,…`). */
async function calls(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const match of (await raw.info("commandstats")).matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) counts[match[1] as string] = Number(match[2]);
  return counts;
}

async function delta(work: () => Promise<void>): Promise<(command: string) => number> {
  const before = await calls();
  await work();
  const after = await calls();
  return (command) => (after[command] ?? 0) - (before[command] ?? 0);
}

describe("the SVID record's replicated write", () => {
  it("on a Redis without replicas: ROLE and SET, no CLIENT INFO, no WAIT; the record is there", async () => {
    const store = await openRedisStore(primary.url, clock);
    try {
      const ran = await delta(async () => {
        for (const serial of ["0a", "0b", "0c"]) await store.recordSvid({ serial, workloadId: "wl-a", issuedAt: now, expiresAt: now + 600 });
      });
      expect({ role: ran("role"), set: ran("set"), clientInfo: ran("client|info"), wait: ran("wait") }).toEqual({ role: 3, set: 3, clientInfo: 0, wait: 0 });
      expect(await raw.get(redisKey("svid", "0b"))).toContain('"workloadId":"wl-a"');
    } finally {
      await store.close();
    }
  });

  it("once a replica is connected: acknowledged after WAIT counted it, and the next writes take the long path directly", async () => {
    replica = await startRedisServer({ args: ["--replicaof", "127.0.0.1", String(primary.port)] });
    await eventually(async () => {
      await raw.set("linked-probe", "1");
      expect(await raw.wait(1, 100)).toBe(1);
    }, 15_000, 50);
    const store = await openRedisStore(primary.url, clock);
    const onReplica = rawClient(replica.url);
    try {
      const first = await delta(() => store.recordSvid({ serial: "1a", workloadId: "wl-b", issuedAt: now, expiresAt: now + 600 }));
      // Short path (ROLE, SET), which finds the replica; then the long one (CLIENT INFO, ROLE, SET; EXISTS, CLIENT INFO, WAIT).
      expect({ role: first("role"), set: first("set"), clientInfo: first("client|info"), wait: first("wait") }).toEqual({ role: 2, set: 2, clientInfo: 2, wait: 1 });
      const second = await delta(() => store.recordSvid({ serial: "1b", workloadId: "wl-b", issuedAt: now, expiresAt: now + 600 }));
      expect({ role: second("role"), set: second("set"), clientInfo: second("client|info"), wait: second("wait") }).toEqual({ role: 1, set: 1, clientInfo: 2, wait: 1 });
      // WAIT counted the replica, so the records are there, not only on the primary.
      expect(await onReplica.get(redisKey("svid", "1a"))).toContain('"workloadId":"wl-b"');
      expect(await onReplica.get(redisKey("svid", "1b"))).toContain('"workloadId":"wl-b"');
    } finally {
      onReplica.disconnect();
      await store.close();
    }
  }, 30_000);
});
