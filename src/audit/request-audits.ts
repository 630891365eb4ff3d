import type { AuditEvent, AuditSink } from "./audit-event.js";

/** What a request's access line says (src/http/request-context.ts). */
export interface AccessFacts {
  readonly requestId: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly durationMs: number;
  /** The TCP peer, never a header. */
  readonly clientAddress: string;
}

/** One request in flight, as {@link RequestAudits.open} answers it. */
export interface OpenRequest {
  readonly requestId: string;
  /** The audit records the request made so far, waiting for its access facts. */
  records: AuditEvent[] | undefined;
}

/**
 * Pairs the audit records of a request with its access facts, so that a request that decides
 * something writes one line, not an audit line and an access line with the same facts.
 */
export interface RequestAudits {
  /** A request begins: its records wait for `close`. */
  open(requestId: string): OpenRequest;
  /**
   * The request is answered: writes its records, each with `access` (undefined: the request
   * failed without an answer, the records go alone). False when it made no record, so the
   * caller writes the access line itself.
   */
  close(request: OpenRequest, access: AccessFacts | undefined): boolean;
  /**
   * Undefined when every record and line written so far is on the output; else a promise that
   * settles when they are (rejected when the output failed). The request awaits it after `close`,
   * so no answer leaves before its record (pino-audit-sink.ts). With no other request in flight
   * (nothing to share a write with, e.g. one client at a time), the output writes at once.
   */
  written(): Promise<void> | undefined;
}

/**
 * An output that writes once per event-loop turn (lib/log-output.ts): `written` settles at the end
 * of the turn, `writtenNow` writes at once. Undefined: `write` is on the output when it returns.
 */
export interface BatchedOutput {
  written(): Promise<void> | undefined;
  writtenNow(): Promise<void> | undefined;
}

/** The requests in flight under one id: one, or several (a caller may repeat its X-Request-Id). */
interface InFlight {
  count: number;
  /** The request records of this id belong to; undefined once the id is shared. */
  only: OpenRequest | undefined;
}

/**
 * An audit sink whose records made during a request are written when the request is answered,
 * still before the answer leaves (the handler has returned; the response is not yet written), and
 * with its access facts. A record is written at once, alone, when no request of its id is in
 * flight (work outside a request) or when several are (two requests sent with the same
 * X-Request-Id: which one it belongs to cannot be told, and a record is never attributed by guess).
 * `output` says when what `write` wrote is on the output (undefined: at once, when it returns).
 */
export function requestPairedAuditSink(write: (event: AuditEvent, access: AccessFacts | undefined) => void, output?: BatchedOutput): AuditSink & RequestAudits {
  const inFlight = new Map<string, InFlight>();
  /** Requests opened and not yet closed, whatever their ids. */
  let openCount = 0;
  return {
    record(event) {
      const only = inFlight.get(event.requestId)?.only;
      if (only === undefined) write(event, undefined);
      else if (only.records === undefined) only.records = [event];
      else only.records.push(event);
    },
    open(requestId) {
      openCount += 1;
      const request: OpenRequest = { requestId, records: undefined };
      const entry = inFlight.get(requestId);
      if (entry === undefined) {
        inFlight.set(requestId, { count: 1, only: request });
      } else {
        entry.count += 1;
        entry.only = undefined;
      }
      return request;
    },
    close(request, access) {
      openCount -= 1;
      const entry = inFlight.get(request.requestId);
      if (entry !== undefined && (entry.count -= 1) === 0) inFlight.delete(request.requestId);
      const { records } = request;
      if (records === undefined) return false;
      request.records = undefined;
      for (const event of records) write(event, access);
      return true;
    },
    written: () => (output === undefined ? undefined : openCount === 0 ? output.writtenNow() : output.written()),
  };
}
