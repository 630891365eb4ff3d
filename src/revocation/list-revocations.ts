import type { AuditSink } from "../audit/audit-event.js";
import { audited, type AdminCall } from "./admin-call.js";
import type { RevocationListing, RevocationStore } from "./revocation-store.js";

export type ListRevocations = (call: AdminCall) => Promise<RevocationListing>;

/** Every revocation and block in force, for the operator (audited like every admin call). */
export function createListRevocations(deps: { readonly revocations: RevocationStore; readonly audit: AuditSink }): ListRevocations {
  return function listRevocations(call) {
    return audited(deps.audit, call, { action: "list_revocations" }, () => deps.revocations.list());
  };
}
