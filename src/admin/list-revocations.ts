import type { AuditSink } from "../audit/audit-event.js";
import { BrokerError } from "../errors/broker-error.js";
import { audited, type AdminCall } from "./admin-call.js";
import { InvalidCursorError, type ListPageRequest, type RevocationAdmin, type RevocationPage } from "../revocation/revocation-store.js";

export type ListRevocations = (page: ListPageRequest, call: AdminCall) => Promise<RevocationPage>;

/**
 * One page of the revocations and blocks in force, for the operator (audited like every admin
 * call). A cursor the store cannot follow is the caller's to fix: 400 invalid_request.
 */
export function createListRevocations(deps: { readonly revocations: RevocationAdmin; readonly audit: AuditSink }): ListRevocations {
  return function listRevocations(page, call) {
    return audited(deps.audit, call, { action: "list_revocations" }, async () => {
      try {
        return await deps.revocations.listPage(page);
      } catch (error) {
        if (!(error instanceof InvalidCursorError)) throw error;
        throw new BrokerError("invalid_request", `invalid cursor: ${error.message}`, { detail: `listing cursor refused: ${error.message}` });
      }
    });
  };
}
