import type { AuditSink } from "../audit/audit-event.js";
import { BrokerError } from "../errors/broker-error.js";
import { epochSeconds, type Clock } from "../lib/clock.js";
import { audited, type AdminCall } from "./admin-call.js";
import type { SvidRecord, SvidRegistry } from "../revocation/revocation-store.js";

export type RevokeSvid = (command: { serial: string; reason: string }, call: AdminCall) => Promise<SvidRecord>;

/** A serial as operators paste it: hex, any case, optional colons; leading zero bytes dropped. */
export function normalizeSerial(text: string): string | undefined {
  const hex = text.trim().replaceAll(":", "").toLowerCase();
  if (!/^[0-9a-f]{1,64}$/.test(hex)) return undefined;
  const even = hex.length % 2 === 1 ? `0${hex}` : hex;
  return even.replace(/^(00)+(?=..)/, "");
}

/**
 * An operator revokes one X.509-SVID by serial: it goes on the CRL until it expires. Only SVIDs
 * this broker issued and that have not expired can be revoked (404 otherwise).
 */
export function createRevokeSvid(deps: { readonly revocations: SvidRegistry; readonly audit: AuditSink; readonly clock: Clock }): RevokeSvid {
  return async function revokeSvid(command, call) {
    return audited(deps.audit, call, { action: "revoke_svid", target: command.serial, reason: command.reason }, async () => {
      const serial = normalizeSerial(command.serial);
      if (serial === undefined) throw new BrokerError("invalid_request", "serial must be a hexadecimal certificate serial number");
      const record = await deps.revocations.revokeSvid(serial, { actor: call.actor, reason: command.reason, at: epochSeconds(deps.clock), atMs: deps.clock.now() });
      if (record === undefined) throw new BrokerError("not_found", "no unexpired X.509-SVID with this serial was issued by this broker");
      return record;
    });
  };
}
