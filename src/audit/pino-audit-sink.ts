import type { Logger } from "pino";
import type { AuditEvent, AuditSink } from "./audit-event.js";
import { logWritten } from "../lib/logger.js";
import { requestPairedAuditSink, type AccessFacts, type RequestAudits } from "./request-audits.js";

/**
 * Writes each decision as one JSON line on the `audit` channel of the broker's logger, the record
 * under `audit`. A record made during a request carries that request's access facts (requestId,
 * method, path, status, durationMs, clientAddress) beside it, at the top of the line where the
 * access line has them, and the request writes no access line of its own (request-context.ts).
 * When the logger's output writes once per event-loop turn (lib/logger.ts), the request awaits
 * that write (`written`), so its record is on stdout before its answer leaves.
 */
export function createPinoAuditSink(logger: Logger): AuditSink & RequestAudits {
  const audit = logger.child({ channel: "audit" });
  return requestPairedAuditSink((event: AuditEvent, access: AccessFacts | undefined) => {
    const message = `${event.event} ${"decision" in event ? event.decision : event.outcome}`;
    if (access === undefined) {
      audit.info({ audit: event }, message);
      return;
    }
    const { requestId, method, path, status, durationMs, clientAddress } = access;
    audit.info({ requestId, method, path, status, durationMs, clientAddress, audit: event }, message);
  }, logWritten(logger));
}
