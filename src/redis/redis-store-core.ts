import { Cluster, type Redis } from "ioredis";
import { epochSeconds, type Clock } from "../lib/clock.js";
import { silentLog, type Log } from "../lib/log.js";
import { StoreUnavailableError } from "../revocation/revocation-store.js";
import { ClusterMasters } from "./redis-cluster-masters.js";
import { boundedCall, commandTimeoutOf, defaultCallTimeoutMs } from "./redis-calls.js";
import { coalesceWrites } from "./coalesce-writes.js";
import { defaultWaitTimeoutMs, type RevocationReplication } from "./revocation-replication.js";

export interface RedisRevocationStoreOptions {
  /**
   * Upper bound on any one store call, even if ioredis never answers. Default: the client's
   * commandTimeout (1000 ms when it has none). `list()` applies it per step.
   */
  readonly timeoutMs?: number;
  /**
   * Redis keeps each key this many seconds past the entry's expiry, so a Redis clock running ahead
   * of the brokers' never drops a revocation early; the store itself ignores an entry from its
   * expiry on (by the injected clock). Default 60.
   */
  readonly expiryGraceSeconds?: number;
  /**
   * When a revocation write is acknowledged (`revocation-replication.ts`). Default: every replica
   * the master reports connected (none: no wait), WAIT timeout from the command timeout.
   */
  readonly replication?: RevocationReplication;
  readonly log?: Log;
}

/**
 * What every role of the Redis revocation store shares: the client (which it owns), the clock,
 * the deadline of a call, the expiry grace, the replication rule, and the masters to scan.
 */
export class RedisStoreCore {
  readonly timeoutMs: number;
  /** Seconds a key outlives its entry (see RedisRevocationStoreOptions.expiryGraceSeconds). */
  readonly grace: number;
  readonly log: Log;
  readonly replication: RevocationReplication;
  /** For a Cluster: its masters by the slot map (see ClusterMasters). */
  private readonly clusterMasters: ClusterMasters | undefined;

  constructor(
    readonly client: Redis | Cluster,
    private readonly clock: Clock,
    options: RedisRevocationStoreOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? defaultCallTimeoutMs(client);
    this.grace = options.expiryGraceSeconds ?? 60;
    this.log = options.log ?? silentLog;
    this.clusterMasters = client instanceof Cluster ? new ClusterMasters(client) : undefined;
    this.replication = options.replication ?? { replicas: "auto", minimum: 0, waitTimeoutMs: defaultWaitTimeoutMs(commandTimeoutOf(client) ?? 750) };
  }

  now(): number {
    return epochSeconds(this.clock);
  }

  /** The injected clock in milliseconds (the rate limiter's unit). */
  nowMs(): number {
    return this.clock.now();
  }

  /** When Redis drops the key of an entry that expires at `expiresAt`. */
  redisExpiry(expiresAt: number): number {
    return expiresAt + this.grace;
  }

  /** Bounds `work` by timeoutMs and turns every failure into StoreUnavailableError. */
  run<T>(operation: string, work: () => Promise<T>, timeoutMs = this.timeoutMs): Promise<T> {
    coalesceWrites(this.client);
    return boundedCall(operation, work, timeoutMs, StoreUnavailableError);
  }

  /**
   * Standalone and Sentinel: PING on the client. Cluster: a keyed read on every master of the slot
   * map, routed as real requests are, so a master the client cannot reach fails the probe (and a
   * master it lost from its pool is reconnected by the redirection).
   */
  async probe(): Promise<void> {
    if (this.clusterMasters === undefined) await this.client.ping();
    else await Promise.all([...this.clusterMasters.probeKeys().values()].map((key) => this.client.exists(key)));
  }

  /** Every master: one for standalone and Sentinel; for a Cluster, each master of the slot map, probed first. */
  async masters(): Promise<Redis[]> {
    if (!(this.client instanceof Cluster)) return [this.client];
    await this.probe();
    return (this.clusterMasters ?? new ClusterMasters(this.client)).connections();
  }

  /** Every key matching `patterns` on every master (SCAN to the end; not for the hot path). */
  async scanKeys(patterns: readonly string[]): Promise<string[]> {
    const keys = new Set<string>();
    const masters = await this.run("list", () => this.masters());
    for (const node of masters) {
      for (const pattern of patterns) {
        let cursor = "0";
        do {
          const [next, found] = await this.run("list", () => node.scan(cursor, "MATCH", pattern, "COUNT", SCAN_COUNT));
          for (const key of found) keys.add(key);
          cursor = next;
        } while (cursor !== "0");
      }
    }
    return [...keys];
  }

  /** GETs of `keys`, issued together in batches (auto-pipelined where the client pipelines). */
  async getAll(operation: string, keys: readonly string[]): Promise<(string | null)[]> {
    const values: (string | null)[] = [];
    for (let start = 0; start < keys.length; start += GET_BATCH) {
      const batch = keys.slice(start, start + GET_BATCH);
      values.push(...(await this.run(operation, () => Promise.all(batch.map((key) => this.client.get(key))))));
    }
    return values;
  }

  async close(): Promise<void> {
    this.replication.confirmMaster?.close();
    try {
      await this.run("close", () => this.client.quit());
    } catch {
      // Not connected, or no answer: drop the connection below all the same.
    } finally {
      this.client.disconnect();
    }
  }
}

const SCAN_COUNT = 500;
const GET_BATCH = 200;

/** A stored entry the store cannot read on the hot path: fail closed rather than guess. */
export function required<T>(entry: T | undefined, kind: string): T {
  if (entry === undefined) throw new StoreUnavailableError(`unreadable ${kind} revocation entry in redis`);
  return entry;
}
