import { BrokerError } from "../errors/broker-error.js";
import { epochSeconds } from "../lib/clock.js";
import { audited, type AdminCall, type AdminRevocationDeps } from "./admin-call.js";
import { CUTOFF_MARGIN_MS, type WorkloadBlock, type WorkloadRevocation } from "../revocation/revocation-store.js";

export interface RevokeWorkloadCommand {
  readonly workloadId: string;
  readonly reason: string;
  /** Also block new issuance to the workload. */
  readonly block: boolean;
  /** End of the block, epoch seconds; undefined: until lifted. */
  readonly blockUntil?: number;
}

export interface RevokeWorkloadResult {
  readonly revocation: WorkloadRevocation;
  readonly block?: WorkloadBlock;
}

export type RevokeWorkload = (command: RevokeWorkloadCommand, call: AdminCall) => Promise<RevokeWorkloadResult>;

/**
 * "Revoke everything workload X holds, now, everywhere": every credential whose `sub` is the
 * workload and that was issued before this revocation becomes inactive; one issued after it (its
 * issuance read this revocation) stays active, even within the same second. The cutoff is the
 * clock + CUTOFF_MARGIN_MS, so a replica whose clock runs a little ahead cannot slip a credential
 * issued just before the revocation past it (see `revocation-store.ts`). The entry lives for the global
 * lifetime cap, by when every credential it covers has expired anyway. Optionally blocks new
 * issuance until lifted or until a time. Acknowledged only once the store has accepted it.
 */
export function createRevokeWorkload(deps: AdminRevocationDeps): RevokeWorkload {
  return async function revokeWorkload(command, call) {
    const now = epochSeconds(deps.clock);
    const operation = { target: command.workloadId, reason: command.reason };
    const revocation: WorkloadRevocation = {
      workloadId: command.workloadId,
      revokedAt: now,
      cutoffMs: deps.clock.now() + CUTOFF_MARGIN_MS,
      expiresAt: now + deps.maxLifetimeSeconds,
      actor: call.actor,
      reason: command.reason,
      at: now,
      atMs: deps.clock.now(),
    };
    await audited(deps.audit, call, { action: "revoke_workload", ...operation }, async () => {
      if (command.blockUntil !== undefined && (!command.block || command.blockUntil <= now)) {
        throw new BrokerError("invalid_request", "block_until needs block: true and must be in the future");
      }
      await deps.revocations.revokeWorkload(revocation);
    });
    if (!command.block) return { revocation };

    const block: WorkloadBlock = { workloadId: command.workloadId, until: command.blockUntil, actor: call.actor, reason: command.reason, at: now, atMs: deps.clock.now() };
    await audited(deps.audit, call, { action: "block_workload", ...operation }, () => deps.revocations.blockWorkload(block));
    return { revocation, block };
  };
}
