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
   * The status of a broker-issued token: revoked when its `jti` was revoked, or when its
   * workload (`sub`) was revoked at or after the token's `iat`. One round trip.
   */
  tokenStatus(token: { jti: string; sub: string; iat: number }): Promise<"active" | "revoked">;

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

  /** Every revocation and block in force (operator listing; not on the hot path). */
  list(): Promise<RevocationListing>;

  /** Throws StoreUnavailableError when the store cannot answer now (readiness). */
  ping(): Promise<void>;

  close(): Promise<void>;
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

export interface RevocationListing {
  readonly tokens: readonly TokenRevocation[];
  readonly workloads: readonly WorkloadRevocation[];
  readonly blocks: readonly WorkloadBlock[];
}

/** The store could not answer in time: deny and tell the caller to retry (503). */
export class StoreUnavailableError extends Error {
  override readonly name = "StoreUnavailableError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
