import type { AdminAction, AuditSink } from "../audit/audit-event.js";
import { BrokerError } from "../errors/broker-error.js";
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

/**
 * Runs one admin operation and records it, done or failed, with the operator's identity and
 * reason. A store outage becomes 503 temporarily_unavailable (nothing was acknowledged).
 */
export async function audited<T>(audit: AuditSink, call: AdminCall, operation: AdminOperation, work: () => Promise<T>): Promise<T> {
  const base = { event: "admin", requestId: call.requestId, actor: call.actor, clientAddress: call.clientAddress, ...operation } as const;
  try {
    const result = await guard(work());
    audit.record({ ...base, outcome: "done" });
    return result;
  } catch (error) {
    const known = error instanceof BrokerError ? error : undefined;
    audit.record({
      ...base,
      outcome: "failed",
      error: known?.code ?? "server_error",
      detail: known ? (known.detail ?? known.description) : "unexpected error",
    });
    throw error;
  }
}
