/**
 * The workload inventory: which workloads were issued credentials, when, under which policies,
 * and which of each policy's audiences, scopes and token types were ever asked for.
 *
 * It is statistics, not security: issuance never waits for it and never fails because of it
 * (`issuance-recorder.ts`), and an update lost while the store is down is acceptable. Revocation,
 * blocks and replay checks live in the revocation store and are not affected.
 *
 * Bounded memory, whatever the traffic (both implementations keep the same bounds):
 * - per workload, one record: first and last issuance, the policies that minted it (at most
 *   one field per policy), issuances per hour for the last {@link HOUR_BUCKETS} hours, and
 *   live credentials per expiry minute (at most {@link MINUTE_BUCKETS} fields: no credential
 *   lives longer than the 1 h a policy may grant). It expires `ttlSeconds` after its last issuance.
 * - an index of workloads by last issuance, at most `maxWorkloads` (the oldest is dropped).
 * - per policy, the audiences, scopes and token types it granted, each with its last use:
 *   bounded by the policy's own grant lists (a re-exchange records none).
 */
export interface InventoryStore {
  readonly kind: "memory" | "redis";

  /** Records one issued credential. May throw or time out: the caller drops it and counts. */
  record(issuance: IssuanceRecord): Promise<void>;

  /**
   * Ids from the index, most recently issued first, from `offset`: at most `limit`. With
   * `lastBeforeMs`, only the workloads whose last issuance came before it (the stale ones).
   */
  workloadIds(query: WorkloadIdQuery): Promise<readonly string[]>;

  /** The usage of each id, in order; undefined for an id never seen (or expired). */
  usage(workloadIds: readonly string[]): Promise<readonly (WorkloadUsage | undefined)[]>;

  /** What each policy granted so far, in order (empty lists for a policy never used). */
  policyUsage(policyIds: readonly string[]): Promise<readonly PolicyUsage[]>;
}

/** One credential issued to a workload. */
export interface IssuanceRecord {
  readonly workloadId: string;
  /** The policy that granted it; undefined for a re-exchange of a broker token (no policy decided). */
  readonly policyId: string | undefined;
  /** The configured issuer id of the subject token; undefined for a re-exchange. */
  readonly issuer: string | undefined;
  readonly tokenType: string;
  readonly audiences: readonly string[];
  readonly scopes: readonly string[];
  /** When it was issued (ms); for several issuances summed into one record, the last. */
  readonly issuedAtMs: number;
  /** The credential's `exp` (seconds); summed: the latest (all in the same minute). */
  readonly expiresAt: number;
  /** How many issuances this record stands for (issuance-recorder.ts sums them); default 1. */
  readonly count?: number;
  /** The first of them (ms); default `issuedAtMs`. */
  readonly firstIssuedAtMs?: number;
}

export interface WorkloadIdQuery {
  readonly offset: number;
  readonly limit: number;
  readonly lastBeforeMs?: number;
}

/** What the inventory knows of one workload. */
export interface WorkloadUsage {
  readonly workloadId: string;
  readonly firstIssuedAtMs: number;
  readonly lastIssuedAtMs: number;
  /** The policies that minted it (ever, within the record's life), by id. */
  readonly policies: readonly string[];
  /** The configured issuer of its last exchange under a policy. */
  readonly issuer: string | undefined;
  /** Credentials issued in the last 24 hours (whole hours: up to 25 h back). */
  readonly issuedLast24h: number;
  /** Credentials whose expiry minute has not passed (to the minute; revoked ones included). */
  readonly liveNow: number;
}

/** What one policy granted so far. */
export interface PolicyUsage {
  readonly policyId: string;
  readonly audiences: readonly string[];
  readonly scopes: readonly string[];
  readonly tokenTypes: readonly string[];
  /** Its last grant (ms); undefined: never used (within the TTL). */
  readonly lastUsedMs: number | undefined;
}

/** The bounds both implementations keep; settings BROKER_INVENTORY_TTL and BROKER_INVENTORY_MAX_WORKLOADS. */
export interface InventoryBounds {
  /** A workload's record (and a policy's usage) expires this long after its last write. */
  readonly ttlSeconds: number;
  /** The index holds at most this many workloads; the least recently issued is dropped. */
  readonly maxWorkloads: number;
}

export const DEFAULT_INVENTORY_BOUNDS: InventoryBounds = { ttlSeconds: 90 * 86_400, maxWorkloads: 100_000 };

/** Hourly issuance counters kept per workload: the current hour and the 24 before it. */
export const HOUR_BUCKETS = 25;

/** Expiry-minute counters kept per workload: the 60 minutes a credential may live, and the current one. */
export const MINUTE_BUCKETS = 61;

/** The hour an instant (ms) falls in. */
export function hourOf(ms: number): number {
  return Math.floor(ms / 3_600_000);
}

/** The minute an instant (ms) falls in. */
export function minuteOf(ms: number): number {
  return Math.floor(ms / 60_000);
}

/** The inventory could not be read in time (503 for the operator; issuance never sees it). */
export class InventoryUnavailableError extends Error {
  override readonly name = "InventoryUnavailableError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
