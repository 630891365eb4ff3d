import { createHash } from "node:crypto";
import { Cluster, type Redis } from "ioredis";
import { z } from "zod";
import { decodeCursor, encodeCursor } from "../revocation/list-cursor.js";
import { InvalidCursorError, type RevocationAdmin, type RevocationListing, type TokenRevocation, type WorkloadBlock, type WorkloadRevocation } from "../revocation/revocation-store.js";
import { blockInForce } from "../revocation/store-rules.js";
import { parseBlock, parseTokenRevocation, parseWorkloadRevocation } from "./redis-entries.js";
import { isKeyOf, KEY_PREFIX } from "./redis-keys.js";
import type { RedisStoreCore } from "./redis-store-core.js";

const SCAN_PATTERNS = [`${KEY_PREFIX}rev:*`, `${KEY_PREFIX}block:*`];
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

/** The revocations and blocks in force, read by SCAN: the whole set, or the operator's pages. */
export function redisListing(redis: RedisStoreCore): Pick<RevocationAdmin, "list" | "listPage"> {
  return {
    list: async () => entriesOf(redis, await redis.scanKeys(SCAN_PATTERNS)),

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
    async listPage(page) {
      const from = page.cursor === undefined ? undefined : decodeCursor(page.cursor, REDIS_CURSOR);
      const masters = await redis.run("listPage", async () => sortedMasters(redis.client, await redis.masters()));
      const topology = topologyOf(redis.client, masters);
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
        const [next, found] = await redis.run("listPage", () => node.scan(position.scan, "MATCH", pattern, "COUNT", count));
        for (const key of found) keys.add(key);
        position = next !== "0" ? { ...position, scan: next } : nextPattern(position, SCAN_PATTERNS.length);
      }
      const all = [...keys];
      const pending = all.slice(page.limit);
      const listing = await entriesOf(redis, all.slice(0, page.limit));
      const more = pending.length > 0 || position.node < masters.length;
      return { ...listing, nextCursor: more ? encodeCursor({ ...position, pending }) : undefined };
    },
  };
}

/** The entries in force under `keys` (values read in batches; gone, expired or unreadable ones left out). */
async function entriesOf(redis: RedisStoreCore, keys: readonly string[]): Promise<RevocationListing> {
  const tokens: TokenRevocation[] = [];
  const workloads: WorkloadRevocation[] = [];
  const blocks: WorkloadBlock[] = [];
  const values = await redis.getAll("listPage", keys);
  const now = redis.now();
  const readable = <T>(entry: T | undefined, key: string): T | undefined => {
    if (entry === undefined) redis.log.warn({ key }, "unreadable revocation entry in redis: left out of the listing");
    return entry;
  };
  keys.forEach((key, index) => {
    const value = values[index];
    if (value === null || value === undefined) return;
    if (isKeyOf("jti", key)) {
      const entry = readable(parseTokenRevocation(value), key);
      if (entry && entry.expiresAt > now) tokens.push(entry);
    } else if (isKeyOf("workload", key)) {
      const entry = readable(parseWorkloadRevocation(value), key);
      if (entry && entry.expiresAt > now) workloads.push(entry);
    } else if (isKeyOf("block", key)) {
      const entry = readable(parseBlock(value), key);
      if (entry && blockInForce(entry, now)) blocks.push(entry);
    }
  });
  return { tokens, workloads, blocks };
}

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
