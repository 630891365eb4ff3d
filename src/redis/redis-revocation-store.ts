import { createHash } from "node:crypto";
import { Cluster, type ChainableCommander, type Redis } from "ioredis";
import { z } from "zod";
import { epochSeconds, type Clock } from "../lib/clock.js";
import { sha256Hex } from "../lib/hash.js";
import { silentLog, type Log } from "../lib/log.js";
import { decodeCursor, encodeCursor } from "../revocation/list-cursor.js";
import {
  InvalidCursorError,
  judgeToken,
  StoreUnavailableError,
  revocationCutoffMs,
  svidRevocation,
  type TokenJudgement,
  type TokenRef,
  type ListPageRequest,
  type RevocationListing,
  type RevocationPage,
  type RevocationMeta,
  type RevocationStore,
  type RevokedSvid,
  type SvidRecord,
  type TokenRevocation,
  type WorkloadBlock,
  type WorkloadRevocation,
} from "../revocation/revocation-store.js";
import {
  parseBlock,
  parseSvidRecord,
  parseTokenRevocation,
  parseWorkloadRevocation,
  serializeBlock,
  serializeMeta,
  serializeSvidRecord,
  serializeTokenRevocation,
  serializeWorkloadRevocation,
} from "./redis-entries.js";
import { ClusterMasters } from "./redis-cluster-masters.js";
import { defaultWaitTimeoutMs, requiredReplicas, type RevocationReplication } from "../revocation/revocation-replication.js";

/**
 * Key layout. Every command touches exactly one key (Lua scripts included), so the same code runs
 * on standalone, Sentinel and Cluster. Values are JSON entries holding the meta (actor, reason, at).
 *
 *   broker:rev:jti:<jti>          TokenRevocation       expires at expiresAt (+ grace)
 *   broker:rev:wl:<workloadId>    WorkloadRevocation    expires at expiresAt (+ grace)
 *   broker:block:<workloadId>     WorkloadBlock         expires at until (+ grace), or never
 *   broker:once:<key>             the claim's expiresAt expires at expiresAt (+ grace)
 *   broker:svid:<serial>          SvidRecord            expires at expiresAt (+ grace)
 *   broker:probe:{<n>}            never written: read by the Cluster readiness probe (ping)
 *
 * An id longer than MAX_ID_BYTES, or starting with "#", is replaced by "#" + its SHA-256, so a key
 * never exceeds ~220 bytes and the two forms cannot collide. Listing reads ids from the values.
 */
export const KEY_PREFIX = "broker:";
const MAX_ID_BYTES = 200;

export function redisKey(kind: "jti" | "workload" | "block" | "once" | "svid", id: string): string {
  const part = Buffer.byteLength(id, "utf8") <= MAX_ID_BYTES && !id.startsWith("#") ? id : `#${sha256Hex(id)}`;
  return `${KEY_PREFIX}${KEY_INFIX[kind]}${part}`;
}

const KEY_INFIX = { jti: "rev:jti:", workload: "rev:wl:", block: "block:", once: "once:", svid: "svid:" } as const;

/** KEYS[1] claim; ARGV: expiresAt, now, redis expiry. A claim held past `now` wins; else take it. */
const CLAIM_ONCE = `
local held = tonumber(redis.call('GET', KEYS[1]))
if held and held > tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EXAT', ARGV[3])
return 1`;

/**
 * KEYS[1] workload revocation; ARGV: entry JSON (with cutoffMs), now, expiry grace seconds.
 * `mergeWorkloadRevocation` in Lua, so it is atomic: over a live entry, the later revokedAt is
 * shown, the cutoff lands strictly after the one in force, and the longer expiry wins. An entry
 * written before cutoffMs existed counts as the end of its revokedAt second.
 */
const REVOKE_WORKLOAD = `
local entry = cjson.decode(ARGV[1])
local current = redis.call('GET', KEYS[1])
if current then
  local ok, old = pcall(cjson.decode, current)
  if ok and type(old) == 'table' then
    local revokedAt, expiresAt = tonumber(old['revokedAt']), tonumber(old['expiresAt'])
    if revokedAt and expiresAt and expiresAt > tonumber(ARGV[2]) then
      local cutoff = math.max(entry['cutoffMs'], (tonumber(old['cutoffMs']) or (revokedAt * 1000 + 999)) + 1)
      local expiry = math.max(entry['expiresAt'], expiresAt)
      if revokedAt > entry['revokedAt'] then entry = old end
      entry['cutoffMs'] = cutoff
      entry['expiresAt'] = expiry
    end
  end
end
redis.call('SET', KEYS[1], cjson.encode(entry), 'EXAT', entry['expiresAt'] + tonumber(ARGV[3]))
return 1`;

/**
 * KEYS[1] SVID record; ARGV: revocation meta JSON, now. Marks an unexpired record revoked (the first
 * revocation is kept) and answers the record; nil when there is no unexpired record.
 */
const REVOKE_SVID = `
local current = redis.call('GET', KEYS[1])
if not current then return false end
local ok, record = pcall(cjson.decode, current)
if not ok or type(record) ~= 'table' or not tonumber(record['expiresAt']) then return false end
if tonumber(record['expiresAt']) <= tonumber(ARGV[2]) then return false end
if record['revoked'] == nil then
  record['revoked'] = cjson.decode(ARGV[1])
  current = cjson.encode(record)
  redis.call('SET', KEYS[1], current, 'KEEPTTL')
end
return current`;

const SCAN_PATTERNS = [`${KEY_PREFIX}rev:*`, `${KEY_PREFIX}block:*`];
const SCAN_COUNT = 500;
const GET_BATCH = 200;
/** SCAN steps one page may take, so a page where few keys match still answers promptly. */
const MAX_SCANS_PER_PAGE = 64;

/** What a listing key can be: the cursor's leftover keys are only ever keys SCAN_PATTERNS match. */
const LISTED_KEY = z.string().max(512).refine((key) => key.startsWith(`${KEY_PREFIX}rev:`) || key.startsWith(`${KEY_PREFIX}block:`));

/** The Redis store's listing cursor (see listPage). */
const REDIS_CURSOR = z.strictObject({
  v: z.literal(1),
  topology: z.string().regex(/^[0-9a-f]{16}$/),
  node: z.number().int().min(0).max(10_000),
  pattern: z.number().int().min(0).max(SCAN_PATTERNS.length - 1),
  scan: z.string().regex(/^[0-9]{1,20}$/),
  pending: z.array(LISTED_KEY).max(1000),
});
type RedisCursor = z.infer<typeof REDIS_CURSOR>;

/** After a SCAN ended: the next pattern on this master, or the first one on the next master. */
function nextPattern(position: RedisCursor, patterns: number): RedisCursor {
  return position.pattern + 1 < patterns
    ? { ...position, pattern: position.pattern + 1, scan: "0" }
    : { ...position, node: position.node + 1, pattern: 0, scan: "0" };
}

/** Masters in a fixed order (by address), so every replica walks a Cluster the same way. */
function sortedMasters(client: Redis | Cluster, masters: Redis[]): Redis[] {
  if (!(client instanceof Cluster)) return masters;
  return [...masters].sort((a, b) => (addressOf(a) < addressOf(b) ? -1 : addressOf(a) > addressOf(b) ? 1 : 0));
}

function addressOf(node: Redis): string {
  return `${node.options.host ?? ""}:${node.options.port ?? ""}`;
}

/**
 * A short digest of what a SCAN cursor depends on: the masters' addresses and, for a Cluster, which
 * master holds which slots. A Sentinel failover changes the connected master's address.
 */
function topologyOf(client: Redis | Cluster, masters: readonly Redis[]): string {
  const parts = masters.map((node) => (client instanceof Cluster ? addressOf(node) : `${node.stream?.remoteAddress ?? ""}:${node.stream?.remotePort ?? ""}`));
  if (client instanceof Cluster) {
    // Slot ranges as "first-last=master": 16,384 slots fold into a few runs.
    let runStart = 0;
    for (let slot = 1; slot <= client.slots.length; slot += 1) {
      if (slot === client.slots.length || client.slots[slot]?.[0] !== client.slots[runStart]?.[0]) {
        parts.push(`${runStart}-${slot - 1}=${client.slots[runStart]?.[0] ?? ""}`);
        runStart = slot;
      }
    }
  }
  return createHash("sha256").update(parts.join("|")).digest("hex").slice(0, 16);
}

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
 * Revocation state in Redis, shared by every replica. Reads and writes go straight to Redis (no
 * local cache), so a revocation acknowledged through one replica is honoured by every replica on
 * its next request. Every failure (refused, timeout, READONLY, cluster down, closed) becomes
 * StoreUnavailableError within `timeoutMs`. The store owns the client: `close()` closes it.
 */
export class RedisRevocationStore implements RevocationStore {
  readonly kind = "redis";
  private readonly timeoutMs: number;
  private readonly grace: number;
  private readonly log: Log;
  private readonly scriptSha = new Map<string, string>();
  /** For a Cluster: its masters by the slot map (see ClusterMasters). */
  private readonly clusterMasters: ClusterMasters | undefined;
  private readonly replication: RevocationReplication;

  constructor(
    private readonly client: Redis | Cluster,
    private readonly clock: Clock,
    options: RedisRevocationStoreOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? defaultTimeoutMs(client);
    this.grace = options.expiryGraceSeconds ?? 60;
    this.log = options.log ?? silentLog;
    this.clusterMasters = client instanceof Cluster ? new ClusterMasters(client) : undefined;
    this.replication = options.replication ?? { replicas: "auto", minimum: 0, waitTimeoutMs: defaultWaitTimeoutMs(commandTimeoutOf(client) ?? 750) };
  }

  async tokenStatus(token: TokenRef): Promise<"active" | "revoked"> {
    return (await this.tokenRevocation(token)).cause === undefined ? "active" : "revoked";
  }

  async tokenRevocation(token: TokenRef): Promise<TokenJudgement> {
    return this.run("tokenStatus", async () => {
      const lineage = token.lineage ?? [];
      const actors = token.actors ?? [];
      // Single-key GETs issued together, so a family of a few tokens costs no extra round trip:
      // auto-pipelined on standalone and Sentinel; on a Cluster each is written at once (not
      // pipelined: see redis-connection.ts) and redirected by itself when its slot moved.
      const [byId, byWorkload, ...rest] = await Promise.all([
        this.client.get(redisKey("jti", token.jti)),
        this.client.get(redisKey("workload", token.sub)),
        ...lineage.map((jti) => this.client.get(redisKey("jti", jti))),
        ...actors.map((id) => this.client.get(redisKey("workload", id))),
      ]);
      const now = this.now();
      const tokenEntry = (value: string | null | undefined) =>
        value === null || value === undefined ? undefined : liveEntry(required(parseTokenRevocation(value), "jti"), now);
      const workloadEntry = (value: string | null | undefined) =>
        value === null || value === undefined ? undefined : liveEntry(required(parseWorkloadRevocation(value), "workload"), now);
      return judgeToken(token, {
        byId: tokenEntry(byId),
        byWorkload: workloadEntry(byWorkload),
        byLineage: rest.slice(0, lineage.length).map(tokenEntry),
        byActor: rest.slice(lineage.length).map(workloadEntry),
      });
    });
  }

  async activeBlock(workloadId: string): Promise<WorkloadBlock | undefined> {
    return this.run("activeBlock", async () => {
      const value = await this.client.get(redisKey("block", workloadId));
      if (value === null) return undefined;
      const block = required(parseBlock(value), "block");
      return inForce(block, this.now()) ? block : undefined;
    });
  }

  async workloadRevocation(workloadId: string): Promise<WorkloadRevocation | undefined> {
    return this.run("workloadRevocation", async () => {
      const value = await this.client.get(redisKey("workload", workloadId));
      return value === null ? undefined : liveEntry(required(parseWorkloadRevocation(value), "workload"), this.now());
    });
  }

  async claimOnce(key: string, expiresAt: number): Promise<boolean> {
    return this.run("claimOnce", async () => {
      const claimed = await this.script(CLAIM_ONCE, redisKey("once", key), [expiresAt, this.now(), this.redisExpiry(expiresAt)]);
      return claimed === 1;
    });
  }

  async revokeToken(entry: TokenRevocation): Promise<void> {
    const key = redisKey("jti", entry.jti);
    await this.replicated("revokeToken", key, (batch) => batch.set(key, serializeTokenRevocation(entry), "EXAT", this.redisExpiry(entry.expiresAt)));
  }

  async revokeWorkload(entry: WorkloadRevocation): Promise<void> {
    // The cutoff is always written, so the script can compare it (an entry built without one means the end of its second).
    const precise = { ...entry, cutoffMs: revocationCutoffMs(entry) };
    const key = redisKey("workload", entry.workloadId);
    await this.replicated("revokeWorkload", key, (batch) => batch.eval(REVOKE_WORKLOAD, 1, key, serializeWorkloadRevocation(precise), this.now(), this.grace));
  }

  async blockWorkload(block: WorkloadBlock): Promise<void> {
    const key = redisKey("block", block.workloadId);
    const value = serializeBlock(block);
    await this.replicated("blockWorkload", key, (batch) =>
      block.until === undefined ? batch.set(key, value) : batch.set(key, value, "EXAT", this.redisExpiry(block.until)),
    );
  }

  async unblockWorkload(workloadId: string): Promise<boolean> {
    const key = redisKey("block", workloadId);
    const value = await this.replicated("unblockWorkload", key, (batch) => batch.getdel(key));
    if (typeof value !== "string") return false;
    const block = parseBlock(value);
    // An unreadable entry was a block of some kind: say it was lifted.
    return block === undefined || inForce(block, this.now());
  }

  async recordSvid(entry: SvidRecord): Promise<void> {
    const record = { serial: entry.serial, workloadId: entry.workloadId, issuedAt: entry.issuedAt, issuedAtMs: entry.issuedAtMs, expiresAt: entry.expiresAt };
    const key = redisKey("svid", entry.serial);
    await this.replicated("recordSvid", key, (batch) => batch.set(key, serializeSvidRecord(record), "EXAT", this.redisExpiry(entry.expiresAt)));
  }

  async revokeSvid(serial: string, meta: RevocationMeta): Promise<SvidRecord | undefined> {
    const key = redisKey("svid", serial);
    const result = await this.replicated("revokeSvid", key, (batch) => batch.eval(REVOKE_SVID, 1, key, serializeMeta(meta), this.now()));
    return typeof result === "string" ? required(parseSvidRecord(result), "svid") : undefined;
  }

  async revokedSvids(): Promise<readonly RevokedSvid[]> {
    const keys = await this.scanKeys([`${KEY_PREFIX}${KEY_INFIX.svid}*`]);
    const records: SvidRecord[] = [];
    for (let start = 0; start < keys.length; start += GET_BATCH) {
      const batch = keys.slice(start, start + GET_BATCH);
      const values = await this.run("revokedSvids", () => Promise.all(batch.map((key) => this.client.get(key))));
      values.forEach((value, index) => {
        if (value === null || value === undefined) return; // expired since the scan
        // An unreadable record cannot be judged: fail closed rather than publish a CRL without it.
        records.push(required(parseSvidRecord(value), `svid (${batch[index] ?? "?"})`));
      });
    }
    const workloadIds = [...new Set(records.filter((record) => record.revoked === undefined).map((record) => record.workloadId))];
    const workloads = new Map<string, WorkloadRevocation>();
    for (let start = 0; start < workloadIds.length; start += GET_BATCH) {
      const batch = workloadIds.slice(start, start + GET_BATCH);
      const values = await this.run("revokedSvids", () => Promise.all(batch.map((id) => this.client.get(redisKey("workload", id)))));
      batch.forEach((id, index) => {
        const value = values[index];
        if (value !== null && value !== undefined) workloads.set(id, required(parseWorkloadRevocation(value), "workload"));
      });
    }
    const now = this.now();
    return records.flatMap((record) => svidRevocation(record, workloads.get(record.workloadId), now) ?? []);
  }

  async list(): Promise<RevocationListing> {
    return this.entriesOf(await this.scanKeys(SCAN_PATTERNS));
  }

  /**
   * One page through SCAN, each master in turn (one for standalone and Sentinel; every shard's
   * master for a Cluster, in address order), `broker:rev:*` then `broker:block:*` on each. The
   * cursor holds the topology it began on, the master's place, the pattern, SCAN's own cursor, and
   * the few keys a SCAN step brought beyond `limit` (returned first on the next page), so a page
   * never holds more than `limit` entries. SCAN's guarantee carries over: an entry in force during
   * the whole listing is on some page, perhaps twice. A SCAN cursor only means something on the
   * server that made it, so when the masters (or, for a Cluster, the slot map) differ from those
   * the listing began on (failover, resharding), the cursor is refused: list again from the start.
   */
  async listPage(page: ListPageRequest): Promise<RevocationPage> {
    const from = page.cursor === undefined ? undefined : decodeCursor(page.cursor, REDIS_CURSOR);
    const masters = await this.run("listPage", async () => sortedMasters(this.client, await this.masters()));
    const topology = topologyOf(this.client, masters);
    if (from !== undefined && from.topology !== topology) {
      throw new InvalidCursorError("the store's nodes changed since this listing began (failover or resharding): list again from the start");
    }
    let position = from ?? { v: 1 as const, topology, node: 0, pattern: 0, scan: "0", pending: [] as string[] };
    if (position.node > masters.length) throw new InvalidCursorError("not a cursor of this store");
    const keys = new Set<string>(position.pending);
    for (let calls = 0; keys.size < page.limit && position.node < masters.length && calls < MAX_SCANS_PER_PAGE; calls += 1) {
      const node = masters[position.node] as Redis;
      const pattern = SCAN_PATTERNS[position.pattern] as string;
      // COUNT is what is still missing: a step then brings at most a few keys more than asked.
      const count = Math.max(1, page.limit - keys.size);
      const [next, found] = await this.run("listPage", () => node.scan(position.scan, "MATCH", pattern, "COUNT", count));
      for (const key of found) keys.add(key);
      position = next !== "0" ? { ...position, scan: next } : nextPattern(position, SCAN_PATTERNS.length);
    }
    const all = [...keys];
    const pending = all.slice(page.limit);
    const listing = await this.entriesOf(all.slice(0, page.limit));
    const more = pending.length > 0 || position.node < masters.length;
    return { ...listing, nextCursor: more ? encodeCursor({ ...position, pending }) : undefined };
  }

  /** The entries in force under `keys` (values read in batches; gone or expired ones left out). */
  private async entriesOf(keys: readonly string[]): Promise<RevocationListing> {
    const tokens: TokenRevocation[] = [];
    const workloads: WorkloadRevocation[] = [];
    const blocks: WorkloadBlock[] = [];
    for (let start = 0; start < keys.length; start += GET_BATCH) {
      const batch = keys.slice(start, start + GET_BATCH);
      const values = await this.run("listPage", () => Promise.all(batch.map((key) => this.client.get(key))));
      const now = this.now();
      batch.forEach((key, index) => {
        const value = values[index];
        if (value === null || value === undefined) return;
        if (key.startsWith(`${KEY_PREFIX}${KEY_INFIX.jti}`)) {
          const entry = this.readable(parseTokenRevocation(value), key);
          if (entry && entry.expiresAt > now) tokens.push(entry);
        } else if (key.startsWith(`${KEY_PREFIX}${KEY_INFIX.workload}`)) {
          const entry = this.readable(parseWorkloadRevocation(value), key);
          if (entry && entry.expiresAt > now) workloads.push(entry);
        } else if (key.startsWith(`${KEY_PREFIX}${KEY_INFIX.block}`)) {
          const entry = this.readable(parseBlock(value), key);
          if (entry && inForce(entry, now)) blocks.push(entry);
        }
      });
    }
    return { tokens, workloads, blocks };
  }

  /**
   * Standalone and Sentinel: PING on the client. Cluster: a keyed read on every master of the slot
   * map, routed as real requests are, so a master the client cannot reach fails the probe (and a
   * master it lost from its pool is reconnected by the redirection).
   */
  async ping(): Promise<void> {
    await this.run("ping", () => this.probe());
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

  private now(): number {
    return epochSeconds(this.clock);
  }

  private redisExpiry(expiresAt: number): number {
    return expiresAt + this.grace;
  }

  private async probe(): Promise<void> {
    if (this.clusterMasters === undefined) await this.client.ping();
    else await Promise.all([...this.clusterMasters.probeKeys().values()].map((key) => this.client.exists(key)));
  }

  /** Every master: one for standalone and Sentinel; for a Cluster, each master of the slot map, probed first. */
  private async masters(): Promise<Redis[]> {
    if (!(this.client instanceof Cluster)) return [this.client];
    await this.probe();
    return (this.clusterMasters ?? new ClusterMasters(this.client)).connections();
  }

  private async scanKeys(patterns: readonly string[]): Promise<string[]> {
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

  /**
   * A revocation write, acknowledged only once replicated (`revocation-replication.ts`): one
   * pipeline on the key's master (routed by `key`, so on a Cluster it reaches the node owning
   * the slot) sends CLIENT INFO, ROLE (is it a master; how many replicas are connected), under
   * Sentinel INFO server (the master's run_id), and the write; a second sends CLIENT INFO and WAIT on that same connection. The write counts only when
   * both pipelines ran on the same connection (a reconnect in between would make WAIT count
   * nothing of ours), WAIT reports enough replicas, and under Sentinel the Sentinels still name
   * this master. Anything else is StoreUnavailableError (503): the write may or may not survive,
   * so it is not acknowledged, and a retry is safe (every revocation write is idempotent).
   */
  private async replicated(operation: string, key: string, write: (batch: ChainableCommander) => ChainableCommander): Promise<unknown> {
    const { waitTimeoutMs, confirmMaster } = this.replication;
    const bound = this.timeoutMs * (confirmMaster ? 3 : 2) + waitTimeoutMs;
    return this.run(
      operation,
      async () => {
        // INFO server (for its run_id) only when the Sentinels are asked: it is the heaviest of these.
        const head = this.client.pipeline().call("CLIENT", "INFO").role();
        const first = replies(await write(confirmMaster ? head.info("server") : head).exec());
        const [connection, role] = first;
        const [info, result] = confirmMaster ? [first[2], first[3]] : [undefined, first[2]];
        const replicas = connectedReplicas(role);
        const required = requiredReplicas(this.replication, replicas);
        if (required > 0) {
          const [, again, acknowledged] = replies(await this.client.pipeline().exists(key).call("CLIENT", "INFO").wait(required, waitTimeoutMs).exec());
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

  /** EVALSHA, loading the script once with EVAL when the server does not know it (NOSCRIPT). */
  private async script(lua: string, key: string, args: readonly (string | number)[]): Promise<unknown> {
    let sha = this.scriptSha.get(lua);
    if (sha === undefined) {
      sha = createSha1(lua);
      this.scriptSha.set(lua, sha);
    }
    try {
      return await this.client.evalsha(sha, 1, key, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return this.client.eval(lua, 1, key, ...args);
    }
  }

  private readable<T>(entry: T | undefined, key: string): T | undefined {
    if (entry === undefined) this.log.warn({ key }, "unreadable revocation entry in redis: left out of the listing");
    return entry;
  }

  /** Bounds `work` by timeoutMs and turns every failure into StoreUnavailableError. */
  private async run<T>(operation: string, work: () => Promise<T>, timeoutMs = this.timeoutMs): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new StoreUnavailableError(`redis ${operation}: no answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([work(), deadline]);
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      throw new StoreUnavailableError(`redis ${operation} failed: ${message}`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }
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

function liveEntry<T extends { expiresAt: number }>(entry: T, now: number): T | undefined {
  return entry.expiresAt > now ? entry : undefined;
}

function inForce(block: WorkloadBlock, now: number): boolean {
  return block.until === undefined || block.until > now;
}

/** A stored entry the store cannot read on the hot path: fail closed rather than guess. */
function required<T>(entry: T | undefined, kind: string): T {
  if (entry === undefined) throw new StoreUnavailableError(`unreadable ${kind} revocation entry in redis`);
  return entry;
}

function defaultTimeoutMs(client: Redis | Cluster): number {
  // No margin on top: ioredis fails a command after commandTimeout, but a command queued behind a
  // stalled pipeline starts its own timer late. This deadline holds from the call.
  return commandTimeoutOf(client) ?? 1000;
}

function commandTimeoutOf(client: Redis | Cluster): number | undefined {
  return client instanceof Cluster ? client.options.redisOptions?.commandTimeout : client.options.commandTimeout;
}

function createSha1(text: string): string {
  return createHash("sha1").update(text).digest("hex");
}
