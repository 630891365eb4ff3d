import { Cluster, Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { silentLog } from "../../src/lib/log.js";
import { coalesceWrites, type CoalesceUntil } from "../../src/redis/coalesce-writes.js";
import { createRedisClient, whenRedisReady } from "../../src/redis/redis-connection.js";
import { RedisRateLimiter } from "../../src/redis/redis-rate-limiter.js";
import { createRedisRevocationStore } from "../../src/redis/redis-revocation-store.js";
import { systemClock } from "../../src/lib/clock.js";
import type { LimitKind } from "../../src/rate-limit/rate-limiter.js";
import { COMMAND_TIMEOUT_MS, redisServerForSuite } from "../support/redis-store.js";

const suite = redisServerForSuite();
const COMMANDS = 40;
const NO_LIMIT = { count: 1_000, periodSeconds: 1, burst: 1_000, text: "1000/1s,burst=1000" };

const open: (Redis | Cluster)[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((client) => client.quit().catch(() => undefined)));
});

/** A client as the broker makes one (auto-pipelining off), ready. */
async function brokerClient(): Promise<Redis> {
  const client = createRedisClient(suite.server.url, { commandTimeoutMs: COMMAND_TIMEOUT_MS, connectTimeoutMs: COMMAND_TIMEOUT_MS, log: silentLog });
  open.push(client);
  await whenRedisReady(client, 10_000);
  if (!(client instanceof Redis)) throw new Error("expected a standalone client");
  return client;
}

/** Redis's own count of reads from client sockets (INFO stats), seen from another connection. */
async function readsProcessed(): Promise<number> {
  const stats = await suite.raw.info("stats");
  const reads = /total_reads_processed:(\d+)/.exec(stats)?.[1];
  if (reads === undefined) throw new Error("this redis-server reports no total_reads_processed");
  return Number(reads);
}

/** The socket as Node's Writable implements it: each call of these is one write to the kernel. */
interface SocketWrites {
  _write(...args: unknown[]): void;
  _writev(...args: unknown[]): void;
}

/** Counts the write calls the client's socket makes to the kernel from now on. */
function countSocketWrites(client: Redis): () => number {
  const socket = client.stream as unknown as SocketWrites;
  let writes = 0;
  for (const method of ["_write", "_writev"] as const) {
    const original = socket[method].bind(socket);
    socket[method] = (...args: unknown[]) => {
      writes += 1;
      original(...args);
    };
  }
  return () => writes;
}

/**
 * Sends COMMANDS INCRs in one turn, as requests answered in one turn do: half at once, half from
 * promise continuations (each behind an await, as a request's second call is), optionally
 * coalesced before each. Answers the socket's writes for them, Redis's reads of them, and the replies.
 */
async function sendInOneTurn(client: Redis, key: string, coalesce: boolean): Promise<{ writes: number; reads: number; replies: number[] }> {
  const before = await readsProcessed();
  const writes = countSocketWrites(client);
  const send = (): Promise<number> => {
    if (coalesce) coalesceWrites(client);
    return client.incr(key);
  };
  const pending: Promise<number>[] = [];
  for (let i = 0; i < COMMANDS / 2; i++) pending.push(send());
  for (let i = 0; i < COMMANDS / 2; i++) pending.push(Promise.resolve().then(send));
  const replies = await Promise.all(pending);
  // The INFO that reads the count is itself one read.
  return { writes: writes(), reads: (await readsProcessed()) - before - 1, replies };
}

describe("coalesceWrites: the commands of one turn leave in one write", () => {
  it("without it, each command is a write of its own (the control: this test can tell the two)", async () => {
    const client = await brokerClient();
    const { writes, replies } = await sendInOneTurn(client, "coalesce:control", false);
    expect(writes).toBe(COMMANDS);
    expect(replies).toEqual(Array.from({ length: COMMANDS }, (_, i) => i + 1));
  });

  it("with it, Redis reads the turn's commands together, and every command is answered in order", async () => {
    const client = await brokerClient();
    const { writes, reads, replies } = await sendInOneTurn(client, "coalesce:together", true);
    expect(writes).toBe(1);
    // Seen from Redis too: one write reaches it as one segment, read at once (two at most, should
    // the kernel split it).
    expect(reads).toBeLessThanOrEqual(2);
    expect(replies).toEqual(Array.from({ length: COMMANDS }, (_, i) => i + 1));
  });

  it("until the iteration's end: commands sent from separate callbacks of one iteration leave together (a turn holds only its own)", async () => {
    // Timer callbacks due together run in one timers phase, each its own turn, as the callbacks
    // of sockets that were ready together do in the poll phase.
    const fromSeparateCallbacks = async (until: CoalesceUntil | undefined): Promise<number> => {
      const client = await brokerClient();
      const writes = countSocketWrites(client);
      const sent: Promise<number>[] = [];
      await new Promise<void>((resolve) => {
        for (let i = 0; i < COMMANDS; i++) {
          setTimeout(() => {
            if (until !== undefined) coalesceWrites(client, until);
            sent.push(client.incr(`coalesce:iteration:${until ?? "none"}`));
            if (sent.length === COMMANDS) resolve();
          }, 0);
        }
      });
      await Promise.all(sent);
      return writes();
    };
    expect(await fromSeparateCallbacks("turn")).toBeGreaterThanOrEqual(COMMANDS / 2);
    // Timers due a millisecond apart may fall into two iterations: two writes at most.
    expect(await fromSeparateCallbacks("iteration")).toBeLessThanOrEqual(2);
  });

  it("holds nothing past the turn: the socket is uncorked before the next turn", async () => {
    const client = await brokerClient();
    coalesceWrites(client);
    expect(client.stream.writableCorked).toBe(1);
    // A second call in the same turn does not cork twice (one uncork releases it).
    coalesceWrites(client);
    expect(client.stream.writableCorked).toBe(1);
    const answered = client.get("coalesce:absent");
    await new Promise((resolve) => setImmediate(resolve));
    expect(client.stream.writableCorked).toBe(0);
    await expect(answered).resolves.toBeNull();
  });

  it("does nothing on a client that has no socket yet, and commands still fail closed there", async () => {
    const client = new Redis(suite.server.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    open.push(client);
    expect(() => coalesceWrites(client)).not.toThrow();
    await expect(client.get("coalesce:offline")).rejects.toThrow();
  });

  it("does nothing on a Cluster client (its node connections are its own)", () => {
    const cluster = new Cluster([{ host: "127.0.0.1", port: 1 }], { lazyConnect: true });
    expect(() => coalesceWrites(cluster)).not.toThrow();
    cluster.disconnect();
  });

  it("is what the broker's Redis calls do: a turn's rate-limit charges and issuance reads leave in one write each turn", async () => {
    const client = await brokerClient();
    const limiter = new RedisRateLimiter(client, systemClock);
    const store = createRedisRevocationStore(client, systemClock);
    const writes = countSocketWrites(client);
    const decisions = await Promise.all(Array.from({ length: COMMANDS / 2 }, (_, i) => limiter.take({ kind: "client", id: `10.0.0.${i}` }, NO_LIMIT)));
    expect(decisions.every((decision) => decision.allowed)).toBe(true);
    // The first EVALSHA of a script new to this server is answered NOSCRIPT and sent again as EVAL:
    // one write for the turn's EVALSHAs, one for the EVALs.
    expect(writes()).toBeLessThanOrEqual(2);
    const blocks = await Promise.all(Array.from({ length: COMMANDS / 2 }, (_, i) => store.activeBlock(`spiffe://example.org/w${i}`)));
    expect(blocks.every((block) => block === undefined)).toBe(true);
    expect(writes()).toBeLessThanOrEqual(3);
  });

  it("holds a client-address charge (a request's first command) to the iteration's end, a workload charge to its turn's", async () => {
    const client = await brokerClient();
    const limiter = new RedisRateLimiter(client, systemClock);
    const corkedAfterTheTurn = async (kind: LimitKind): Promise<number> => {
      const taken = limiter.take({ kind, id: "spiffe://example.org/w" }, NO_LIMIT);
      const corked = await new Promise<number>((resolve) => process.nextTick(() => resolve(client.stream.writableCorked)));
      await taken;
      return corked;
    };
    expect(await corkedAfterTheTurn("workload")).toBe(0);
    expect(await corkedAfterTheTurn("client")).toBe(1);
  });
});
