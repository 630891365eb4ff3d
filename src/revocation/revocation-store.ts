/**
 * Revocation state shared by every replica: revoked token ids, revoked workloads, blocked
 * workloads, and single-use claims on subject tokens (replay protection).
 *
 * Implementations: MemoryRevocationStore (one process; development) and RedisRevocationStore
 * (any number of replicas). Every method either answers from the authoritative store or throws
 * StoreUnavailableError: callers fail closed, they never guess.
 *
 * All instants are whole seconds since the Unix epoch.
 */
export interface RevocationStore {
  /** Which implementation this is, for logs and /readyz. */
  readonly kind: "memory" | "redis";

  /**
   * The status of a broker-issued token: revoked when its `jti` was revoked, when its workload
   * (`sub`) was revoked at or after the token's `iat`, when a token it was minted from
   * (`lineage`) was revoked by `jti`, or when a workload that acted in its chain (`actors`) was
   * revoked at or after the token's `iat`. One round trip.
   */
  tokenStatus(token: TokenRef): Promise<"active" | "revoked">;

  /** Why a broker-issued token is revoked (the rule of `tokenStatus`), or undefined when it is active. One round trip. */
  tokenRevocation(token: TokenRef): Promise<TokenRevocationCause | undefined>;

  /** The block in force on a workload now, if any. */
  activeBlock(workloadId: string): Promise<WorkloadBlock | undefined>;

  /**
   * Atomically claims a single-use key until `expiresAt`: true for the first claim, false for
   * every later one (a replay), across all replicas.
   */
  claimOnce(key: string, expiresAt: number): Promise<boolean>;

  /** Revokes one token id until `expiresAt` (the token's own `exp`). Resolves once stored. */
  revokeToken(entry: TokenRevocation): Promise<void>;

  /**
   * Revokes every credential of a workload issued at or before `entry.revokedAt`. The entry
   * lives until `entry.expiresAt` (revokedAt + the global lifetime cap). A later revocation of
   * the same workload moves the instant forward, never back.
   */
  revokeWorkload(entry: WorkloadRevocation): Promise<void>;

  /** Blocks new issuance for a workload until lifted or until `block.until`. */
  blockWorkload(block: WorkloadBlock): Promise<void>;

  /** Lifts a block; true when there was one. Revoked credentials stay revoked. */
  unblockWorkload(workloadId: string): Promise<boolean>;

  /**
   * Records an issued X.509-SVID until it expires, so that revoking its workload (or its serial)
   * puts it on the CRL.
   */
  recordSvid(entry: SvidRecord): Promise<void>;

  /**
   * Revokes one recorded, unexpired X.509-SVID by serial. Answers the record, or undefined when
   * no such SVID is recorded (unknown or expired serial). A second revocation keeps the first.
   */
  revokeSvid(serial: string, meta: RevocationMeta): Promise<SvidRecord | undefined>;

  /**
   * Every recorded X.509-SVID that has not expired and is revoked: its serial was revoked, or its
   * workload was revoked at or after its issuance. For the CRL; not on the hot path.
   */
  revokedSvids(): Promise<readonly RevokedSvid[]>;

  /** Every revocation and block in force (the in-force gauge; not on the hot path). */
  list(): Promise<RevocationListing>;

  /**
   * One page of the revocations and blocks in force, for the operator: at most `limit` entries
   * in all, and `nextCursor` (opaque) until the listing is complete. Every entry in force for the
   * whole listing appears on some page; one may appear twice (Redis SCAN's guarantee). Throws
   * InvalidCursorError for a cursor this store did not make or can no longer follow.
   */
  listPage(page: ListPageRequest): Promise<RevocationPage>;

  /** Throws StoreUnavailableError when the store cannot answer now (readiness). */
  ping(): Promise<void>;

  close(): Promise<void>;
}

/** A broker-issued token as the store judges it. */
export interface TokenRef {
  readonly jti: string;
  readonly sub: string;
  readonly iat: number;
  /**
   * `jti`s of the broker tokens this one was minted from (its subject token and broker actor
   * tokens, and theirs), oldest first: its family. Revoking any of them revokes this one.
   */
  readonly lineage?: readonly string[];
  /** Workload ids of the broker tokens that acted in its chain: revoking one at or after `iat` revokes this one. */
  readonly actors?: readonly string[];
}

/** What revoked a token: its own `jti`, its workload, a token of its family, or the workload of an actor in its chain. */
export type TokenRevocationCause = "jti" | "workload" | "family" | "actor_workload";

/**
 * The rule both stores apply to the entries they read for `token` (each undefined when absent
 * or expired at `now`).
 */
export function tokenRevocationCause(
  token: TokenRef,
  entries: {
    readonly byId: TokenRevocation | undefined;
    readonly byWorkload: WorkloadRevocation | undefined;
    readonly byLineage: readonly (TokenRevocation | undefined)[];
    readonly byActor: readonly (WorkloadRevocation | undefined)[];
  },
): TokenRevocationCause | undefined {
  if (entries.byId !== undefined) return "jti";
  if (entries.byWorkload !== undefined && token.iat <= entries.byWorkload.revokedAt) return "workload";
  // RFC 7009 §2.1: revoking a token may revoke related ones; here, everything minted from it.
  if (entries.byLineage.some((entry) => entry !== undefined)) return "family";
  if (entries.byActor.some((entry) => entry !== undefined && token.iat <= entry.revokedAt)) return "actor_workload";
  return undefined;
}

/** Who did it and why: kept with every entry and written to the audit log. */
export interface RevocationMeta {
  /** The operator's identity (admin token `sub`, or "bootstrap-admin"). */
  readonly actor: string;
  readonly reason: string;
  /** When it was recorded. */
  readonly at: number;
}

export interface TokenRevocation extends RevocationMeta {
  readonly jti: string;
  readonly expiresAt: number;
}

export interface WorkloadRevocation extends RevocationMeta {
  readonly workloadId: string;
  /** Credentials of this workload issued at or before this instant are inactive. */
  readonly revokedAt: number;
  readonly expiresAt: number;
}

export interface WorkloadBlock extends RevocationMeta {
  readonly workloadId: string;
  /** End of the block; undefined: until lifted. */
  readonly until: number | undefined;
}

/** An issued X.509-SVID, recorded for revocation. */
export interface SvidRecord {
  /** Lowercase hexadecimal certificate serial number, without leading zero bytes. */
  readonly serial: string;
  /** The workload id of the grant it was issued under (what an operator revokes). */
  readonly workloadId: string;
  readonly issuedAt: number;
  /** The certificate's notAfter. */
  readonly expiresAt: number;
  /** Set when the serial itself was revoked. */
  readonly revoked?: RevocationMeta;
}

/** A revoked, unexpired X.509-SVID: one CRL entry. */
export interface RevokedSvid {
  readonly serial: string;
  readonly expiresAt: number;
  /** When it became revoked: the serial's or the workload's revocation instant. */
  readonly revokedAt: number;
}

/**
 * Whether `record` is revoked now, given the revocation of its workload (if any is in force):
 * the rule both stores apply.
 */
export function svidRevocation(record: SvidRecord, workload: WorkloadRevocation | undefined, now: number): RevokedSvid | undefined {
  if (record.expiresAt <= now) return undefined;
  if (record.revoked !== undefined) return { serial: record.serial, expiresAt: record.expiresAt, revokedAt: record.revoked.at };
  if (workload !== undefined && workload.expiresAt > now && record.issuedAt <= workload.revokedAt) {
    return { serial: record.serial, expiresAt: record.expiresAt, revokedAt: workload.revokedAt };
  }
  return undefined;
}

export interface RevocationListing {
  readonly tokens: readonly TokenRevocation[];
  readonly workloads: readonly WorkloadRevocation[];
  readonly blocks: readonly WorkloadBlock[];
}

export interface ListPageRequest {
  /** At most this many entries (tokens, workloads and blocks together); 1 or more. */
  readonly limit: number;
  /** Where the previous page stopped; undefined: from the start. */
  readonly cursor: string | undefined;
}

export interface RevocationPage extends RevocationListing {
  /** Where to go on; undefined when the listing is complete. */
  readonly nextCursor: string | undefined;
}

/** A listing cursor that is malformed, not this store's, or no longer valid (400 for the caller). */
export class InvalidCursorError extends Error {
  override readonly name = "InvalidCursorError";
}

/** The store could not answer in time: deny and tell the caller to retry (503). */
export class StoreUnavailableError extends Error {
  override readonly name = "StoreUnavailableError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
