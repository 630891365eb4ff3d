import type { Context } from "hono";
import { BrokerError, type BrokerErrorCode } from "../errors.js";
import type { Log } from "../lib/log.js";

const DEFAULT_STATUS: Record<BrokerErrorCode, number> = {
  invalid_request: 400,
  invalid_client: 401,
  unsupported_grant_type: 400,
  unauthorized_client: 400,
  invalid_target: 400,
  invalid_scope: 400,
  invalid_token: 401,
  insufficient_scope: 403,
  not_found: 404,
  temporarily_unavailable: 503,
  server_error: 500,
};

/**
 * RFC 6749 §5.2 error JSON. A BrokerError keeps its safe description; anything else becomes a
 * bare `server_error` (logged in full, never sent to the caller).
 */
export function errorResponse(c: Context, error: unknown, log: Log): Response {
  const known = error instanceof BrokerError ? error : undefined;
  if (!known) log.error({ err: error, requestId: c.get("requestId") }, "unexpected error");
  const code = known?.code ?? "server_error";
  const status = known?.status ?? DEFAULT_STATUS[code];
  const headers: Record<string, string> = {
    "Content-Type": "application/json",
    "Cache-Control": "no-store",
    Pragma: "no-cache",
  };
  if (code === "temporarily_unavailable") headers["Retry-After"] = String(known?.retryAfterSeconds ?? 5);
  // A body refused part-way is left unread: tell the client this connection will not carry
  // another request (RFC 9112 §9.6), or it reuses a socket the server is about to drop.
  if (status === 413) headers.Connection = "close";
  // RFC 6749 §5.2: invalid_client over 401 carries the scheme the client tried; RFC 6750 §3:
  // a bearer-protected endpoint names the bearer error (invalid_token 401, insufficient_scope 403).
  if (status === 401) headers["WWW-Authenticate"] = `Bearer error="${code === "invalid_token" ? "invalid_token" : "invalid_client"}"`;
  if (code === "insufficient_scope") headers["WWW-Authenticate"] = 'Bearer error="insufficient_scope"';
  const body = known ? { error: code, error_description: known.description } : { error: code };
  return new Response(JSON.stringify(body), { status, headers });
}
