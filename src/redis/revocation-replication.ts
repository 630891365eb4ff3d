/**
 * When a revocation write counts as done (issue 12): Redis replication is asynchronous, so a
 * write the master acknowledged can vanish in a failover (the promoted replica never got it). A
 * revocation is rare and precious, so it is acknowledged only once `WAIT` reports it on enough
 * replicas, within a bound; otherwise the caller gets 503 and retries. Rate-limit budgets,
 * replay claims and reads keep their cheap path: losing one of those in a failover costs little
 * (a budget refills, a claim only narrows a replay window that the token's expiry bounds).
 *
 * Which writes wait (redis-replicated-write.ts): workload and token revocations (admin and RFC
 * 7009), blocks and unblocks, SVID records (an SVID the CRL cannot cover is never handed out) and
 * SVID revocations.
 */
export interface RevocationReplication {
  /** Replicas that must acknowledge: a number, or "auto" (every replica the master reports connected). */
  readonly replicas: number | "auto";
  /** In "auto", never fewer than this (1 under Sentinel: a failover promotes a replica). */
  readonly minimum: number;
  /** WAIT's own timeout, milliseconds; below the command timeout, so WAIT answers before it. */
  readonly waitTimeoutMs: number;
  /**
   * Confirms that the master which took the write (its `run_id`) is the one the Sentinels name
   * now; throws when it is not (or when no Sentinel answers). Sentinel only.
   */
  readonly confirmMaster?: MasterCheck;
}

export interface MasterCheck {
  confirm(runId: string): Promise<void>;
  close(): void;
}

/** The replicas a revocation must reach, given the setting and the master's connected replicas. */
export function requiredReplicas(replication: RevocationReplication, connectedReplicas: number): number {
  return replication.replicas === "auto" ? Math.max(replication.minimum, connectedReplicas) : replication.replicas;
}

/** WAIT's default timeout: 250 ms, or half the command timeout when that is shorter (WAIT must answer first). */
export function defaultWaitTimeoutMs(commandTimeoutMs: number): number {
  return Math.max(1, Math.min(250, Math.floor(commandTimeoutMs / 2)));
}
