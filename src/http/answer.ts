import type { Context } from "hono";
import type { AppEnv } from "./app-env.js";

/**
 * A JSON answer built with its headers as a plain object, X-Request-Id among them.
 * @hono/node-server writes a Response made from a string body and plain headers straight to the
 * socket (its cached-response path); Hono's `c.json` after any `c.header` call builds a Headers
 * object instead, which is copied entry by entry into a new object when written, and reading
 * `res.headers` of a plain-header Response turns them into a Headers object too. So the hot
 * answers are built here, and `requestContext` knows (`carriesRequestId`) not to look at them.
 * Headers set earlier with `c.header` are not carried: pass every header here.
 */
export function jsonAnswer(c: Context<AppEnv>, body: unknown, status: number, headers: Record<string, string>): Response {
  headers["Content-Type"] = "application/json";
  const requestId = c.get("requestId");
  if (requestId !== undefined) headers["X-Request-Id"] = requestId;
  const res = new Response(JSON.stringify(body), { status, headers });
  if (requestId !== undefined) c.set("answered", res);
  return res;
}

/** True when `res` is an answer of `jsonAnswer` for this request: it carries X-Request-Id already. */
export function carriesRequestId(c: Context<AppEnv>, res: Response): boolean {
  return c.get("answered") === res;
}
