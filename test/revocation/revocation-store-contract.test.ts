import { MemoryRevocationStore } from "../../src/revocation/memory-revocation-store.js";
import { revocationStoreContract } from "../support/revocation-store-contract.js";
import { openRedisStore, redisServerForSuite } from "../support/redis-store.js";

revocationStoreContract("MemoryRevocationStore", () => ({
  open: async (clock) => new MemoryRevocationStore(clock),
  // One process's memory: a second replica would not share it, so the "other" instance is this one.
  peer: async (_clock, first) => first,
  reset: async () => {},
}));

const redis = redisServerForSuite();

revocationStoreContract("RedisRevocationStore (standalone redis-server)", () => ({
  open: (clock) => openRedisStore(redis.server.url, clock),
  peer: (clock) => openRedisStore(redis.server.url, clock),
  reset: async () => {
    await redis.raw.flushall();
  },
}));
