import { z } from "zod";
import { epochSeconds, type Clock } from "../lib/clock.js";
import { decodeCursor, encodeCursor } from "./list-cursor.js";
import type { ListPageRequest, RevocationListing, RevocationPage, RevocationMeta, RevocationStore, RevokedSvid, SvidRecord, TokenJudgement, TokenRef, TokenRevocation, WorkloadBlock, WorkloadRevocation } from "./revocation-store.js";
import { revocationCutoffMs } from "./revocation-store.js";
import { blockInForce, judgeToken, liveEntry as live, mergeWorkloadRevocation, statusOf, svidRevocation } from "./store-rules.js";

/**
 * Revocation state in this process only: the embedded default when REDIS_URL is unset.
 * Correct for a single replica (development, the quick start); with several replicas each
 * would keep its own state, which is why production uses Redis.
 */
export class MemoryRevocationStore implements RevocationStore {
  readonly kind = "memory";
  private readonly tokens = new Map<string, TokenRevocation>();
  private readonly workloads = new Map<string, WorkloadRevocation>();
  private readonly blocks = new Map<string, WorkloadBlock>();
  private readonly claims = new Map<string, number>();
  private readonly svids = new Map<string, SvidRecord>();
  private writes = 0;

  constructor(private readonly clock: Clock) {}

  async tokenStatus(token: TokenRef): Promise<"active" | "revoked"> {
    return statusOf(await this.tokenRevocation(token));
  }

  async tokenRevocation(token: TokenRef): Promise<TokenJudgement> {
    const now = this.now();
    return judgeToken(token, {
      byId: live(this.tokens.get(token.jti), now),
      byWorkload: live(this.workloads.get(token.sub), now),
      byLineage: (token.lineage ?? []).map((jti) => live(this.tokens.get(jti), now)),
      byActor: (token.actors ?? []).map((id) => live(this.workloads.get(id), now)),
    });
  }

  async activeBlock(workloadId: string): Promise<WorkloadBlock | undefined> {
    const block = this.blocks.get(workloadId);
    return block && blockInForce(block, this.now()) ? block : undefined;
  }

  async workloadRevocation(workloadId: string): Promise<WorkloadRevocation | undefined> {
    return live(this.workloads.get(workloadId), this.now());
  }

  async claimOnce(key: string, expiresAt: number): Promise<boolean> {
    const held = this.claims.get(key);
    if (held !== undefined && held > this.now()) return false;
    this.claims.set(key, expiresAt);
    this.afterWrite();
    return true;
  }

  async revokeToken(entry: TokenRevocation): Promise<void> {
    this.tokens.set(entry.jti, entry);
    this.afterWrite();
  }

  async revokeWorkload(entry: WorkloadRevocation): Promise<void> {
    // The cutoff moves forward, never back: an older revocation must not un-revoke anything.
    const precise = { ...entry, cutoffMs: revocationCutoffMs(entry) };
    this.workloads.set(entry.workloadId, mergeWorkloadRevocation(live(this.workloads.get(entry.workloadId), this.now()), precise));
    this.afterWrite();
  }

  async blockWorkload(block: WorkloadBlock): Promise<void> {
    this.blocks.set(block.workloadId, block);
  }

  async unblockWorkload(workloadId: string): Promise<boolean> {
    const had = (await this.activeBlock(workloadId)) !== undefined;
    this.blocks.delete(workloadId);
    return had;
  }

  async recordSvid(entry: SvidRecord): Promise<void> {
    const { serial, workloadId, issuedAt, issuedAtMs, expiresAt } = entry;
    this.svids.set(serial, { serial, workloadId, issuedAt, ...(issuedAtMs === undefined ? {} : { issuedAtMs }), expiresAt });
    this.afterWrite();
  }

  async revokeSvid(serial: string, meta: RevocationMeta): Promise<SvidRecord | undefined> {
    const record = this.svids.get(serial);
    if (record === undefined || record.expiresAt <= this.now()) return undefined;
    if (record.revoked !== undefined) return record;
    const revoked: SvidRecord = { ...record, revoked: { actor: meta.actor, reason: meta.reason, at: meta.at } };
    this.svids.set(serial, revoked);
    return revoked;
  }

  async revokedSvids(): Promise<readonly RevokedSvid[]> {
    const now = this.now();
    const found: RevokedSvid[] = [];
    for (const record of this.svids.values()) {
      const revoked = svidRevocation(record, this.workloads.get(record.workloadId), now);
      if (revoked !== undefined) found.push(revoked);
    }
    return found;
  }

  async list(): Promise<RevocationListing> {
    this.sweep();
    const now = this.now();
    return {
      tokens: [...this.tokens.values()],
      workloads: [...this.workloads.values()],
      blocks: [...this.blocks.values()].filter((block) => blockInForce(block, now)),
    };
  }

  /**
   * Entries in a fixed order (tokens, then workloads, then blocks; each by id), and the cursor is
   * the last one returned: the next page starts after it, so an entry added or removed meanwhile
   * never shifts another out of the listing.
   */
  async listPage(page: ListPageRequest): Promise<RevocationPage> {
    const after = page.cursor === undefined ? undefined : decodeCursor(page.cursor, MEMORY_CURSOR);
    const { tokens, workloads, blocks } = await this.list();
    const ordered: { kind: 0 | 1 | 2; id: string; entry: TokenRevocation | WorkloadRevocation | WorkloadBlock }[] = [
      ...tokens.map((entry) => ({ kind: 0 as const, id: entry.jti, entry })),
      ...workloads.map((entry) => ({ kind: 1 as const, id: entry.workloadId, entry })),
      ...blocks.map((entry) => ({ kind: 2 as const, id: entry.workloadId, entry })),
    ].sort((a, b) => a.kind - b.kind || compare(a.id, b.id));
    const start = after === undefined ? 0 : ordered.findIndex((item) => item.kind > after.kind || (item.kind === after.kind && compare(item.id, after.id) > 0));
    const slice = start === -1 ? [] : ordered.slice(start, start + page.limit);
    const last = slice.at(-1);
    const more = start !== -1 && start + page.limit < ordered.length;
    return {
      tokens: slice.flatMap((item) => (item.kind === 0 ? [item.entry as TokenRevocation] : [])),
      workloads: slice.flatMap((item) => (item.kind === 1 ? [item.entry as WorkloadRevocation] : [])),
      blocks: slice.flatMap((item) => (item.kind === 2 ? [item.entry as WorkloadBlock] : [])),
      nextCursor: more && last !== undefined ? encodeCursor({ v: 1, kind: last.kind, id: last.id }) : undefined,
    };
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}

  private now(): number {
    return epochSeconds(this.clock);
  }

  /** Expired entries go in a sweep every so many writes, so memory stays bounded by live entries. */
  private afterWrite(): void {
    if (++this.writes % 1024 === 0) this.sweep();
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.tokens) if (entry.expiresAt <= now) this.tokens.delete(key);
    for (const [key, entry] of this.workloads) if (entry.expiresAt <= now) this.workloads.delete(key);
    for (const [key, until] of this.claims) if (until <= now) this.claims.delete(key);
    for (const [key, entry] of this.svids) if (entry.expiresAt <= now) this.svids.delete(key);
    for (const [key, block] of this.blocks) if (block.until !== undefined && block.until <= now) this.blocks.delete(key);
  }
}

/** The memory store's cursor: the kind and id of the last entry returned. */
const MEMORY_CURSOR = z.strictObject({ v: z.literal(1), kind: z.union([z.literal(0), z.literal(1), z.literal(2)]), id: z.string().max(4096) });

/** Code-unit order: total and stable, whatever the ids hold. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
