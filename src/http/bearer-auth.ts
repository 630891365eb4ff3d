import type { MiddlewareHandler } from "hono";
import type { AuthenticateCaller } from "../revocation/authenticate-caller.js";
import { invalidToken } from "../revocation/authenticate-caller.js";
import type { AppEnv } from "./app-env.js";

/** RFC 6750 §2.1: `Bearer` 1*SP b64token. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

/** Longest credential read from the header (a broker token is far shorter). */
const MAX_CREDENTIAL_LENGTH = 8192;

/**
 * The credential of an `Authorization: Bearer …` header (RFC 6750 §2.1), or undefined when
 * the header is missing, uses another scheme, or is malformed. Bearer tokens are accepted only
 * in the header: never from a form field or the query string (§2.2, §2.3).
 */
export function bearerCredential(header: string | undefined): string | undefined {
  if (header === undefined || header.length > MAX_CREDENTIAL_LENGTH + 16) return undefined;
  return BEARER.exec(header.trim())?.[1];
}

/**
 * Requires a broker-issued access token carrying `scope` (RFC 6750): 401 invalid_token when it
 * is missing or not acceptable, 403 insufficient_scope when it lacks the scope, 503 when its
 * revocation status cannot be checked. Sets `caller` to the token's `sub`.
 */
export function requireBrokerToken(options: { authenticate: AuthenticateCaller; scope: string }): MiddlewareHandler<AppEnv> {
  if (!options.scope || /\s/.test(options.scope)) throw new Error("requireBrokerToken: scope must be one scope value");
  const { authenticate, scope } = options;
  return async function requireBrokerTokenMiddleware(c, next) {
    const token = bearerCredential(c.req.header("authorization"));
    if (token === undefined) throw invalidToken("no bearer credential in the Authorization header");
    const caller = await authenticate(token, scope);
    c.set("caller", caller.subject);
    await next();
  };
}
