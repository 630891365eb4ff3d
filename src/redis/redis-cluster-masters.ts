import calculateSlot from "cluster-key-slot";
import type { Cluster, Redis } from "ioredis";
import { StoreUnavailableError } from "../revocation/revocation-store.js";

const SLOTS = 16_384;
/** Probe keys are `broker:probe:{<n>}`, n searched from 0 until every master has one. */
const PROBE_KEY_PREFIX = "broker:probe:";
/** Enough to find a key for a master that holds a single slot (16,384 tries expected). */
const MAX_PROBE_KEY_SEARCH = 20 * SLOTS;

/**
 * The masters of a Redis Cluster as the client's slot map names them, a key on each, and the
 * connection to each. The slot map, not the client's pool of connections: ioredis drops a master
 * that went away from its pool and adds it back only when a command is redirected to it (MOVED),
 * so the pool alone can look healthy while every key of one master fails.
 */
export class ClusterMasters {
  /** Master ("host:port") → a key in one of its slots; re-checked against the slot map at each use. */
  private known = new Map<string, string>();

  constructor(private readonly cluster: Cluster) {}

  /**
   * One key per master, hashing to a slot that master serves: a command on it goes through the
   * same routing (and MOVED handling) as a real request. Throws StoreUnavailableError when a slot
   * has no master (the cluster cannot serve it).
   */
  probeKeys(): Map<string, string> {
    const masters = this.masters();
    const keys = new Map<string, string>();
    for (const [master, key] of this.known) if (masters.has(master) && this.ownerOf(key) === master) keys.set(master, key);
    for (let n = 0; keys.size < masters.size && n < MAX_PROBE_KEY_SEARCH; n++) {
      const key = `${PROBE_KEY_PREFIX}{${n}}`;
      const master = this.ownerOf(key);
      if (master !== undefined && !keys.has(master)) keys.set(master, key);
    }
    if (keys.size < masters.size) throw new StoreUnavailableError("redis cluster: no probe key found for every master");
    this.known = new Map(keys);
    return keys;
  }

  /**
   * The connection to each master, for commands that must run on every master (SCAN). Throws
   * StoreUnavailableError when one has none: a listing that silently left a master out would drop
   * its revocations (from the CRL too).
   */
  connections(): Redis[] {
    const pool = new Map<string, Redis>(this.cluster.nodes("master").map((node) => [`${node.options.host}:${node.options.port}`, node]));
    return [...this.masters()].map((master) => {
      const node = pool.get(master);
      if (node === undefined) throw new StoreUnavailableError(`redis cluster: no connection to master ${master}`);
      return node;
    });
  }

  private masters(): Set<string> {
    const masters = new Set<string>();
    for (let slot = 0; slot < SLOTS; slot++) {
      const master = this.cluster.slots[slot]?.[0];
      if (master === undefined) throw new StoreUnavailableError(`redis cluster: slot ${slot} has no master (status ${this.cluster.status})`);
      masters.add(master);
    }
    return masters;
  }

  private ownerOf(key: string): string | undefined {
    return this.cluster.slots[calculateSlot(key)]?.[0];
  }
}
