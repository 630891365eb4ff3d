import { randomUUID } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import type { AccessFacts, RequestAudits } from "../audit/request-audits.js";
import type { Log } from "../lib/log.js";
import type { AppEnv } from "./app-env.js";
import { carriesRequestId } from "./answer.js";

const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Gives every request an id (the caller's X-Request-Id when it is safe to echo), records the
 * client address from the socket (never from a header a client can forge), and writes the
 * request's access facts once: on its audit records when it made any (`audits`: one line per
 * decision, not an audit line and an access line saying the same), else on an access line.
 * The answer waits until those lines are on the output (RequestAudits.written).
 */
export function requestContext(options: { log: Log; audits?: RequestAudits | undefined }): MiddlewareHandler<AppEnv> {
  const { log, audits } = options;
  return async function requestContextMiddleware(c, next) {
    const started = performance.now();
    const inbound = c.req.header("x-request-id");
    const requestId = inbound && SAFE_REQUEST_ID.test(inbound) ? inbound : randomUUID();
    const clientAddress = c.env?.incoming?.socket?.remoteAddress ?? "unknown";
    c.set("requestId", requestId);
    c.set("clientAddress", clientAddress);
    const open = audits?.open(requestId);
    let access: AccessFacts | undefined;
    try {
      await next();
      // Set on the answer rather than through c.header before the handler: that would make every
      // answer's headers a Headers object, off @hono/node-server's fast path (answer.ts). The
      // answers of jsonAnswer (the token route, errors) carry it already, unread.
      const res = c.res;
      if (!carriesRequestId(c, res)) res.headers.set("X-Request-Id", requestId);
      access = {
        requestId,
        method: c.req.method,
        path: c.req.path,
        status: res.status,
        durationMs: Math.round((performance.now() - started) * 100) / 100,
        clientAddress,
      };
    } finally {
      // Always closed, so no request stays in the pairing's map. With no answer to describe (Hono
      // answers handler errors through onError; this is what escaped it), the records go alone.
      const paired = open !== undefined && audits?.close(open, access) === true;
      if (access !== undefined && !paired) log.info(access, "request");
      // The answer leaves when this returns: not before the lines written so far (this request's
      // record among them) are on the output, which writes them once per event-loop turn. A failed
      // write rejects here: the answer becomes a 500 (app.ts onError), never an unrecorded decision.
      const pending = audits?.written();
      if (pending !== undefined) await pending;
    }
  };
}
