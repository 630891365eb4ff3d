import type { Context, MiddlewareHandler } from "hono";
import type { AuthenticateCaller, DpopPresentation } from "../authorization/authenticate-caller.js";
import { invalidToken } from "../authorization/authenticate-caller.js";
import type { BrokerError } from "../errors/broker-error.js";
import { authorizationCredential } from "../protocol/authorization-header.js";
import { isScopeToken } from "../protocol/scope.js";
import type { AppEnv } from "./app-env.js";

/**
 * The refusal of a request whose Authorization header holds no usable credential. RFC 6750 §3.1:
 * a request without any authentication information (no header, or a scheme this endpoint does
 * not take, e.g. Basic) gets a challenge without an error code (`authScheme` "none"); a malformed
 * Bearer or DPoP credential is an invalid token, challenged with its own scheme.
 */
export function missingCredential(c: Context<AppEnv>, header: string | undefined): BrokerError {
  const scheme = /^\s*(Bearer|DPoP)(?:\s|$)/i.exec(header ?? "")?.[1]?.toLowerCase();
  if (scheme === undefined) c.set("authScheme", "none");
  else if (scheme === "dpop") c.set("authScheme", "DPoP");
  return invalidToken(header === undefined ? "no Authorization header" : "no bearer credential in the Authorization header");
}

/**
 * For a credential sent with the DPoP scheme: the proof and what it must be bound to, and the
 * scheme recorded so an error answers with a DPoP challenge. Undefined for Bearer.
 */
export function dpopPresentation(c: Context<AppEnv>, scheme: "Bearer" | "DPoP"): DpopPresentation | undefined {
  if (scheme === "Bearer") return undefined;
  c.set("authScheme", "DPoP");
  // The path as received (percent-encodings kept), as the client put it in `htu`.
  return { proof: c.req.header("dpop"), method: c.req.method, path: new URL(c.req.url).pathname };
}

/**
 * Requires a broker-issued access token carrying `scope` (RFC 6750; RFC 9449 §7.1 for a
 * DPoP-bound one, which must come with the DPoP scheme and a proof): 401 invalid_token when it
 * is missing or not acceptable, 401 invalid_dpop_proof when its proof is not, 403
 * insufficient_scope when it lacks the scope, 503 when its revocation status cannot be checked.
 * Sets `caller` to the token's `sub`.
 */
export function requireBrokerToken(options: { authenticate: AuthenticateCaller; scope: string }): MiddlewareHandler<AppEnv> {
  if (!isScopeToken(options.scope)) throw new Error("requireBrokerToken: scope must be one scope value");
  const { authenticate, scope } = options;
  return async function requireBrokerTokenMiddleware(c, next) {
    const header = c.req.header("authorization");
    const credential = authorizationCredential(header);
    if (credential === undefined) throw missingCredential(c, header);
    const caller = await authenticate(credential.token, scope, dpopPresentation(c, credential.scheme));
    c.set("caller", caller.subject);
    await next();
  };
}
