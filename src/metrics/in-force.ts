import type { Clock } from "../lib/clock.js";
import type { RevocationAdmin, SvidRegistry } from "../revocation/revocation-store.js";

export interface InForceCounts {
  tokens: number;
  workloads: number;
  svids: number;
  blocks: number;
}

/**
 * Counts revocations and blocks in force for the scrape-time gauge. Listing scans the store, so
 * the answer is reused for `minIntervalMs` (15 s): scrapes cannot turn into a load on Redis.
 */
export function inForceCounts(store: Pick<RevocationAdmin, "list"> & Pick<SvidRegistry, "revokedSvids">, clock: Clock, minIntervalMs = 15_000): () => Promise<InForceCounts> {
  let cached: InForceCounts | undefined;
  let readAt = Number.NEGATIVE_INFINITY;
  return async () => {
    if (cached && clock.now() - readAt < minIntervalMs) return cached;
    const [listing, svids] = await Promise.all([store.list(), store.revokedSvids()]);
    cached = { tokens: listing.tokens.length, workloads: listing.workloads.length, svids: svids.length, blocks: listing.blocks.length };
    readAt = clock.now();
    return cached;
  };
}
