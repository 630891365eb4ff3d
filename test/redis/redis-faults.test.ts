import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StoreUnavailableError } from "../../src/revocation/revocation-store.js";
import type { RedisRevocationStore } from "../../src/redis/redis-revocation-store.js";
import { startRedisServer, type RedisServerHandle } from "../support/redis-server.js";
import { clock, expectAllUnavailable, expectSeedInForce, seed } from "../support/redis-fault-checks.js";
import { COMMAND_TIMEOUT_MS, eventually, openRedisStore } from "../support/redis-store.js";

/**
 * Fail closed, recover by itself: a crashed or stalled Redis makes every call reject with
 * StoreUnavailableError within a bound (the store's deadline is the command timeout; we allow
 * twice that), and the same store instance works again once Redis is back, with every revocation
 * made before the crash still in force (AOF).
 */
describe("RedisRevocationStore when Redis fails", () => {
  let server: RedisServerHandle;
  let store: RedisRevocationStore;

  beforeAll(async () => {
    server = await startRedisServer();
    store = await openRedisStore(server.url, clock);
  });

  afterAll(async () => {
    await store?.close();
    await server?.stop();
  });

  it("killed (SIGKILL): every call rejects with StoreUnavailableError within the bound; after a restart the same store recovers and the AOF kept every revocation", async () => {
    await seed(store, "iss|before-kill");
    await server.kill();
    await expectAllUnavailable(store);
    // Still unavailable on a second round (while reconnecting), never a hang.
    await expectAllUnavailable(store);

    await server.restart();
    await eventually(() => store.ping(), 10_000);
    await expectSeedInForce(store, "iss|before-kill");
  });

  it("stalled (SIGSTOP, connection open, no answers): every call rejects within the bound; it recovers on SIGCONT", async () => {
    await seed(store, "iss|before-stall");
    server.pause();
    try {
      await expectAllUnavailable(store);
    } finally {
      server.resume();
    }
    await eventually(() => store.ping(), 10_000);
    await expectSeedInForce(store, "iss|before-stall");
  });

  it("stalled: a call arriving while an earlier one waits is failed by the command timeout counted from its own start, not queued behind the earlier one", async () => {
    server.pause();
    try {
      const first = store.activeBlock("wl-a").catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, COMMAND_TIMEOUT_MS / 2));
      // ioredis sends one auto-pipeline at a time: this call waits for the first to time out
      // before its own command (and its own ioredis timer) even starts.
      const start = performance.now();
      await expect(store.activeBlock("wl-a")).rejects.toBeInstanceOf(StoreUnavailableError);
      const waited = performance.now() - start;
      await first;
      // Before, the store's deadline was the timeout + 250 ms: such a call waited ~1.6 × the timeout.
      expect(waited).toBeLessThan(COMMAND_TIMEOUT_MS * 1.35);
    } finally {
      server.resume();
    }
    await eventually(() => store.ping(), 10_000);
  });

  it("closed: calls reject with StoreUnavailableError, not a raw ioredis error", async () => {
    const closing = await openRedisStore(server.url, clock);
    await closing.close();
    await expectAllUnavailable(closing);
  });
});
