import { Redis, type ChainableCommander } from "ioredis";
import { StoreUnavailableError } from "../revocation/revocation-store.js";
import type { RedisStoreCore } from "./redis-store-core.js";
import { requiredReplicas } from "./revocation-replication.js";

/**
 * A revocation write, acknowledged only once replicated (`revocation-replication.ts`): one
 * pipeline on the key's master (routed by `key`, so on a Cluster it reaches the node owning the
 * slot) sends CLIENT INFO, ROLE (is it a master; how many replicas are connected), under Sentinel
 * INFO server (the master's run_id), and the write; a second sends CLIENT INFO and WAIT on that
 * same connection. The write counts only when both pipelines ran on the same connection (a
 * reconnect in between would make WAIT count nothing of ours), WAIT reports enough replicas, and
 * under Sentinel the Sentinels still name this master. Anything else is StoreUnavailableError
 * (503): the write may or may not survive, so it is not acknowledged, and a retry is safe (every
 * revocation write is idempotent). Answers the write's own reply.
 */
export async function replicatedWrite(
  redis: RedisStoreCore,
  operation: string,
  key: string,
  write: (batch: ChainableCommander) => ChainableCommander,
): Promise<unknown> {
  const { waitTimeoutMs, confirmMaster } = redis.replication;
  const bound = writeBoundMs(redis);
  return redis.run(
    operation,
    async () => {
      // INFO server (for its run_id) only when the Sentinels are asked: it is the heaviest of these.
      const head = redis.client.pipeline().call("CLIENT", "INFO").role();
      const first = replies(await write(confirmMaster ? head.info("server") : head).exec());
      const [connection, role] = first;
      const [info, result] = confirmMaster ? [first[2], first[3]] : [undefined, first[2]];
      const required = requiredReplicas(redis.replication, connectedReplicas(role));
      if (required > 0) {
        const [, again, acknowledged] = replies(await redis.client.pipeline().exists(key).call("CLIENT", "INFO").wait(required, waitTimeoutMs).exec());
        if (clientIdentity(again) !== clientIdentity(connection)) throw new StoreUnavailableError(`redis ${operation}: the connection changed before replication was confirmed`);
        if (typeof acknowledged !== "number" || acknowledged < required) {
          throw new StoreUnavailableError(`redis ${operation}: written but replicated to ${String(acknowledged)} of ${required} replicas within ${waitTimeoutMs} ms: not acknowledged`);
        }
      }
      if (confirmMaster) {
        try {
          await confirmMaster.confirm(runIdOf(info));
        } catch (error) {
          throw new StoreUnavailableError(`redis ${operation}: master not confirmed: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
      return result;
    },
    bound,
  );
}

/** The deadline of one replicated write, from the call: its round trips and WAIT's own timeout. */
function writeBoundMs(redis: RedisStoreCore): number {
  const { waitTimeoutMs, confirmMaster } = redis.replication;
  return redis.timeoutMs * (confirmMaster ? 3 : 2) + waitTimeoutMs;
}

/** A pipeline's replies, in order; the first error (READONLY, MOVED, …) is thrown. */
function replies(results: [Error | null, unknown][] | null): unknown[] {
  if (results === null) throw new StoreUnavailableError("redis pipeline discarded");
  return results.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
}

/** ROLE on a master: ["master", offset, [[ip, port, offset], …]]; anything else is not a master to write to. */
function connectedReplicas(role: unknown): number {
  if (!Array.isArray(role) || role[0] !== "master") throw new StoreUnavailableError(`redis answered as ${Array.isArray(role) ? String(role[0]) : "?"}, not master`);
  return Array.isArray(role[2]) ? role[2].length : 0;
}

/** The connection's id and the server address it reached, from CLIENT INFO. */
function clientIdentity(info: unknown): string {
  const text = typeof info === "string" ? info : "";
  const id = /(?:^|\s)id=(\d+)/.exec(text)?.[1];
  const laddr = /(?:^|\s)laddr=(\S+)/.exec(text)?.[1];
  if (id === undefined || laddr === undefined) throw new StoreUnavailableError("redis CLIENT INFO gave no connection id");
  return `${id}@${laddr}`;
}

/** The server's run_id, from INFO server. */
function runIdOf(info: unknown): string {
  const runId = /(?:^|\n)run_id:([0-9a-f]+)/.exec(typeof info === "string" ? info : "")?.[1];
  if (runId === undefined) throw new StoreUnavailableError("redis INFO gave no run_id");
  return runId;
}

/** Per store: when (epoch seconds) a short write last found a replica that must acknowledge. */
const replicasSeenAt = new WeakMap<RedisStoreCore, number>();
/** How long writes go straight to the long path after that, before the short one is tried again. */
const LONG_PATH_SECONDS = 10;

/**
 * A replicated SET (the SVID record, written on every issuance) by the short path when no
 * replica has to acknowledge it: ROLE and the SET sent together (one connection, in order, in one
 * write with whatever else the process sends that turn: coalesce-writes.ts) instead of a
 * pipeline of their own led by CLIENT INFO, whose only use is to pair the write with a WAIT. ROLE
 * is still read with every write: a replica that must acknowledge (or an answer from anything but
 * a master) sends the write down the whole of {@link replicatedWrite}, which writes it again (a
 * SET of the same value is idempotent) and waits; for the next 10 s this store's writes go there
 * directly (so a Redis with replicas pays the extra round trip once per 10 s, not per write). Only
 * on a standalone Redis (Sentinel confirms its master; a Cluster routes by key, ROLE has none).
 */
export async function replicatedSet(redis: RedisStoreCore, operation: string, key: string, value: string, expireAtSeconds: number): Promise<void> {
  const { client, replication } = redis;
  const mayBeShort = client instanceof Redis && replication.confirmMaster === undefined && (replication.replicas === 0 || (replication.replicas === "auto" && replication.minimum === 0));
  if (mayBeShort && redis.now() - (replicasSeenAt.get(redis) ?? Number.NEGATIVE_INFINITY) >= LONG_PATH_SECONDS) {
    // The long path's deadline: a record under load is refused no sooner than it was.
    const done = await redis.run(
      operation,
      async () => {
        const [role] = await Promise.all([client.role(), client.set(key, value, "EXAT", expireAtSeconds)]);
        return requiredReplicas(replication, connectedReplicas(role)) === 0;
      },
      writeBoundMs(redis),
    );
    if (done) return;
    replicasSeenAt.set(redis, redis.now());
  }
  await replicatedWrite(redis, operation, key, (batch) => batch.set(key, value, "EXAT", expireAtSeconds));
}
