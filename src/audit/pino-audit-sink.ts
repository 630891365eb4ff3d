import type { Logger } from "pino";
import type { AuditSink } from "./audit-event.js";

/** Writes each decision as one JSON line on the `audit` channel of the broker's logger. */
export function createPinoAuditSink(logger: Logger): AuditSink {
  const audit = logger.child({ channel: "audit" });
  return {
    record(event) {
      audit.info({ audit: event }, `${event.event} ${"decision" in event ? event.decision : event.outcome}`);
    },
  };
}
