import { denialOf, type AdminAction, type AdminAuditEvent, type AuditSink } from "../audit/audit-event.js";
import { recordDecision, type DecisionLog } from "../audit/record-decision.js";
import type { Clock } from "../lib/clock.js";
import type { RevocationAdmin } from "../revocation/revocation-store.js";
import { guard } from "../revocation/store-guard.js";

/** Who makes an admin call, from where: set by the admin authentication, kept in the audit record. */
export interface AdminCall {
  /** Admin token `sub`, or "bootstrap-admin" for the bootstrap secret. */
  readonly actor: string;
  readonly requestId: string;
  readonly clientAddress: string;
}

/** The audited part of one admin operation. */
export interface AdminOperation {
  readonly action: AdminAction;
  readonly target?: string;
  readonly reason?: string;
}

/** What an admin operation that writes a revocation needs: the store, the audit, time and the lifetime cap. */
export interface AdminRevocationDeps {
  readonly revocations: RevocationAdmin;
  readonly audit: AuditSink;
  readonly clock: Clock;
  /** The global credential lifetime cap: no credential an entry covers lives longer. */
  readonly maxLifetimeSeconds: number;
}

/**
 * Runs one admin operation and records it, done or failed, with the operator's identity and
 * reason. A store outage becomes 503 temporarily_unavailable (nothing was acknowledged).
 */
export function audited<T>(audit: AuditSink, call: AdminCall, operation: AdminOperation, work: () => Promise<T>): Promise<T> {
  return recordDecision<T>(audit, adminLog(call, operation), () => guard(work()));
}

/** The record of an admin call: done, or failed with the error code and the full reason (`detail`). */
function adminLog(call: AdminCall, operation: AdminOperation): DecisionLog<unknown> {
  const request = { event: "admin", requestId: call.requestId, actor: call.actor, clientAddress: call.clientAddress, ...operation } as const;
  return {
    allowed: (): AdminAuditEvent => ({ ...request, outcome: "done" }),
    refused: (error): AdminAuditEvent => {
      const denial = denialOf(error);
      return { ...request, outcome: "failed", error: denial.error, detail: denial.reason };
    },
  };
}
