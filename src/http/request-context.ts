import { randomUUID } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import type { Log } from "../lib/log.js";
import type { AppEnv } from "./app-env.js";
import { carriesRequestId } from "./answer.js";

const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Gives every request an id (the caller's X-Request-Id when it is safe to echo), records the
 * client address from the socket (never from a header a client can forge), and writes one
 * access-log line per request.
 */
export function requestContext(options: { log: Log }): MiddlewareHandler<AppEnv> {
  return async function requestContextMiddleware(c, next) {
    const started = performance.now();
    const inbound = c.req.header("x-request-id");
    const requestId = inbound && SAFE_REQUEST_ID.test(inbound) ? inbound : randomUUID();
    c.set("requestId", requestId);
    c.set("clientAddress", c.env?.incoming?.socket?.remoteAddress ?? "unknown");
    await next();
    // Set on the answer rather than through c.header before the handler: that would make every
    // answer's headers a Headers object, off @hono/node-server's fast path (answer.ts). The
    // answers of jsonAnswer (the token route, errors) carry it already, unread.
    const res = c.res;
    if (!carriesRequestId(c, res)) res.headers.set("X-Request-Id", requestId);
    options.log.info(
      {
        requestId,
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        durationMs: Math.round((performance.now() - started) * 100) / 100,
        clientAddress: c.get("clientAddress"),
      },
      "request",
    );
  };
}
