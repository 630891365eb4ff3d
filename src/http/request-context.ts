import { randomUUID } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import type { Log } from "../lib/log.js";
import type { AppEnv } from "./app-env.js";

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
    // Set before the handler runs: changing headers of a finished response makes Hono rebuild it.
    c.header("X-Request-Id", requestId);
    await next();
    // Error answers and handlers that return their own Response did not get it: add it there.
    if (!c.res.headers.has("X-Request-Id")) c.res.headers.set("X-Request-Id", requestId);
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
