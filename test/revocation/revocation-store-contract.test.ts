import type { Redis } from "ioredis";
import { afterAll, beforeAll } from "vitest";
import { MemoryRevocationStore } from "../../src/revocation/memory-revocation-store.js";
import { startRedisServer, type RedisServerHandle } from "../support/redis-server.js";
import { revocationStoreContract } from "../support/revocation-store-contract.js";
import { openRedisStore, rawClient } from "../support/redis-store.js";

revocationStoreContract("MemoryRevocationStore", () => ({
  open: async (clock) => new MemoryRevocationStore(clock),
  // One process's memory: a second replica would not share it, so the "other" instance is this one.
  peer: async (_clock, first) => first,
  reset: async () => {},
}));

let server: RedisServerHandle;
let raw: Redis;

beforeAll(async () => {
  server = await startRedisServer();
  raw = rawClient(server.url);
});

afterAll(async () => {
  await raw?.quit();
  await server?.stop();
});

revocationStoreContract("RedisRevocationStore (standalone redis-server)", () => ({
  open: (clock) => openRedisStore(server.url, clock),
  peer: (clock) => openRedisStore(server.url, clock),
  reset: async () => {
    await raw.flushall();
  },
}));
