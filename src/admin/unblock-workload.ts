import type { AuditSink } from "../audit/audit-event.js";
import { BrokerError } from "../errors/broker-error.js";
import { audited, type AdminCall } from "./admin-call.js";
import type { RevocationAdmin } from "../revocation/revocation-store.js";

export interface UnblockWorkloadCommand {
  readonly workloadId: string;
  readonly reason?: string;
}

export type UnblockWorkload = (command: UnblockWorkloadCommand, call: AdminCall) => Promise<void>;

/**
 * Lifts the block on a workload so it may be issued credentials again. Credentials revoked
 * before stay revoked: only the block goes. No block in force: not_found.
 */
export function createUnblockWorkload(deps: { readonly revocations: RevocationAdmin; readonly audit: AuditSink }): UnblockWorkload {
  return function unblockWorkload(command, call) {
    const operation = { action: "unblock_workload", target: command.workloadId, ...(command.reason ? { reason: command.reason } : {}) } as const;
    return audited(deps.audit, call, operation, async () => {
      if (!(await deps.revocations.unblockWorkload(command.workloadId))) {
        throw new BrokerError("not_found", "this workload is not blocked", { detail: `no block on ${command.workloadId}` });
      }
    });
  };
}
