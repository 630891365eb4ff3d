import {
  issuanceStampMs,
  latestCutoff,
  recordedAtMs,
  revocationCutoffMs,
  type RevocationSource,
  type RevokedSvid,
  type SvidRecord,
  type TokenJudgement,
  type TokenRef,
  type TokenRevocation,
  type TokenRevocationCause,
  type WorkloadBlock,
  type WorkloadRevocation,
} from "./revocation-store.js";

/*
 * How a store judges the entries it read: the rules both stores apply, written once so that the
 * memory store (development, the contract suite's reference) and Redis can never disagree.
 */

/** The entry while it lives: undefined from its `expiresAt` on (`now`, seconds). */
export function liveEntry<T extends { readonly expiresAt: number }>(entry: T | undefined, now: number): T | undefined {
  return entry !== undefined && entry.expiresAt > now ? entry : undefined;
}

/** A block is in force until lifted, or until its `until`. */
export function blockInForce(block: WorkloadBlock, now: number): boolean {
  return block.until === undefined || block.until > now;
}

/** `tokenStatus` from a `tokenRevocation` judgement. */
export function statusOf(judgement: TokenJudgement): "active" | "revoked" {
  return judgement.cause === undefined ? "active" : "revoked";
}

/** The entries a store read for a token (each undefined when absent or expired). */
export interface TokenEntries {
  readonly byId: TokenRevocation | undefined;
  readonly byWorkload: WorkloadRevocation | undefined;
  readonly byLineage: readonly (TokenRevocation | undefined)[];
  readonly byActor: readonly (WorkloadRevocation | undefined)[];
}

/**
 * The rule both stores apply to the entries they read for `token` (each undefined when absent
 * or expired at `now`).
 */
export function judgeToken(token: TokenRef, entries: TokenEntries): TokenJudgement {
  const workloads = [entries.byWorkload, ...entries.byActor].filter((entry): entry is WorkloadRevocation => entry !== undefined);
  const latestCutoffMs = latestCutoff(...workloads.map(revocationCutoffMs));
  const revoked = tokenRevocation(token, entries);
  return revoked === undefined ? { cause: undefined, latestCutoffMs } : { cause: revoked.cause, latestCutoffMs, revokedBy: revoked.source };
}

/** Why `token` is revoked and by which entry, in the order the causes are checked; undefined: active. */
function tokenRevocation(token: TokenRef, entries: TokenEntries): { cause: TokenRevocationCause; source: RevocationSource } | undefined {
  const stamp = issuanceStampMs(token);
  const covers = (entry: WorkloadRevocation | undefined): entry is WorkloadRevocation => entry !== undefined && stamp <= revocationCutoffMs(entry);
  if (entries.byId !== undefined) return { cause: "jti", source: tokenSource(entries.byId) };
  if (covers(entries.byWorkload)) return { cause: "workload", source: workloadSource(entries.byWorkload) };
  // RFC 7009 §2.1: revoking a token may revoke related ones; here, everything minted from it.
  const family = entries.byLineage.find((entry) => entry !== undefined);
  if (family !== undefined) return { cause: "family", source: tokenSource(family) };
  const actor = entries.byActor.find(covers);
  if (actor !== undefined) return { cause: "actor_workload", source: workloadSource(actor) };
  return undefined;
}

function tokenSource(entry: TokenRevocation): RevocationSource {
  return { key: `jti:${entry.jti}`, atMs: recordedAtMs(entry) };
}

/** A workload revocation's key carries its cutoff: revoking the same workload again is a new entry. */
export function workloadSource(entry: WorkloadRevocation): RevocationSource {
  return { key: `workload:${entry.workloadId}:${revocationCutoffMs(entry)}`, atMs: recordedAtMs(entry) };
}

/** A block as a revocation source: keyed by workload and the instant it was recorded. */
export function blockSource(block: WorkloadBlock): RevocationSource {
  return { key: `block:${block.workloadId}:${recordedAtMs(block)}`, atMs: recordedAtMs(block) };
}

/**
 * A new revocation of a workload over the one in force (if any), as both stores apply it
 * atomically: the entry with the later `revokedAt` is the one shown (the new one on a tie), its
 * cutoff is strictly after the cutoff in force (so every credential stamped after reading that
 * entry is covered too), and it lives as long as the longer of the two.
 */
export function mergeWorkloadRevocation(current: WorkloadRevocation | undefined, requested: WorkloadRevocation): WorkloadRevocation {
  if (current === undefined) return requested;
  const shown = current.revokedAt > requested.revokedAt ? current : requested;
  return {
    ...shown,
    cutoffMs: Math.max(revocationCutoffMs(requested), revocationCutoffMs(current) + 1),
    expiresAt: Math.max(current.expiresAt, requested.expiresAt),
  };
}

/**
 * Whether `record` is revoked now, given the revocation of its workload (if any is in force):
 * the rule both stores apply.
 */
export function svidRevocation(record: SvidRecord, workload: WorkloadRevocation | undefined, now: number): RevokedSvid | undefined {
  if (record.expiresAt <= now) return undefined;
  if (record.revoked !== undefined) return { serial: record.serial, expiresAt: record.expiresAt, revokedAt: record.revoked.at };
  if (workload !== undefined && workload.expiresAt > now && issuanceStampMs({ iat: record.issuedAt, issuedAtMs: record.issuedAtMs }) <= revocationCutoffMs(workload)) {
    return { serial: record.serial, expiresAt: record.expiresAt, revokedAt: workload.revokedAt };
  }
  return undefined;
}

