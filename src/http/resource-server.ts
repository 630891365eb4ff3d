/**
 * A Hono middleware for resource servers that accept the broker's access tokens (RFC 9068 JWTs),
 * DPoP-bound (RFC 9449) or bearer (RFC 6750). Exported by the package as
 * `credential-broker/resource-server`; docs/resource-servers.md has the walk-through.
 *
 * ```ts
 * import { Hono } from "hono";
 * import { requireBrokerAccessToken, type ResourceServerEnv } from "credential-broker/resource-server";
 *
 * const app = new Hono<ResourceServerEnv>();
 * app.use("/orders/*", requireBrokerAccessToken({
 *   issuer: "https://broker.example.com",
 *   audience: "https://orders.example.com",
 *   publicUrl: "https://orders.example.com",
 *   requiredScopes: ["orders:read"],
 * }));
 * app.get("/orders/:id", (c) => c.json({ caller: c.get("brokerAccess").claims.sub }));
 * ```
 */
import type { MiddlewareHandler } from "hono";
import { DPOP_ALGS_PARAMETER } from "../dpop/algorithms.js";
import { createResourceAccessVerifier, type RefusedAccess, type ResourceServerOptions, type VerifiedAccess } from "../dpop/resource-access.js";
import { statusOfCode } from "./error-response.js";

export { DPOP_ALGORITHMS } from "../dpop/algorithms.js";
export { MemoryDpopReplayCache, ReplayCacheFullError, type DpopReplayCache } from "../dpop/replay-cache.js";
export type { BrokerAccessClaims, ResourceServerOptions, VerifiedAccess } from "../dpop/resource-access.js";

/** Why a request is refused, as RFC 6750 §3 / RFC 9449 §7.1 say it, with the status it is answered with; `detail` is for the server's log only. */
export interface AccessRefusal extends RefusedAccess {
  readonly status: 400 | 401 | 403 | 503;
}

/** What the middleware sets on the context: `c.get("brokerAccess")`. */
export interface ResourceServerEnv {
  Variables: { brokerAccess: VerifiedAccess };
}

export interface RequireBrokerAccessTokenOptions extends ResourceServerOptions {
  /** Called with every refusal (its `detail` is for your log, never for the client). */
  readonly onRefusal?: (refusal: AccessRefusal) => void;
}

/**
 * Refuses a request unless it carries an acceptable broker access token: 401 with a `Bearer`
 * and/or `DPoP` challenge (RFC 6750 §3, RFC 9449 §7.1, §7.2), 403 insufficient_scope, 400 for a
 * malformed Authorization header, 503 when revocation could not be checked. The options are
 * checked once, here; an invalid one throws at start-up.
 */
export function requireBrokerAccessToken(options: RequireBrokerAccessTokenOptions): MiddlewareHandler<ResourceServerEnv> {
  const verify = createResourceAccessVerifier(options);
  const allowBearer = options.allowBearer ?? true;
  return async function requireBrokerAccessTokenMiddleware(c, next) {
    const decision = await verify({
      authorization: c.req.header("authorization"),
      dpop: c.req.header("dpop"),
      method: c.req.method,
      // The path as received (percent-encodings kept), as the client put it in `htu`.
      path: new URL(c.req.url).pathname,
    });
    if (!decision.ok) {
      // The broker's own table (error-response.ts), at a protected resource: invalid_request 400,
      // invalid_token and invalid_dpop_proof 401, insufficient_scope 403, temporarily_unavailable 503.
      const status = statusOfCode(decision.refusal.error, true) as AccessRefusal["status"];
      const refusal: AccessRefusal = { ...decision.refusal, status };
      options.onRefusal?.(refusal);
      return refusalResponse(refusal, allowBearer);
    }
    c.set("brokerAccess", decision.access);
    await next();
  };
}

/** The answer to a refused request: RFC 6749 §5.2-style JSON and the challenge of RFC 9449 §7.2. */
function refusalResponse(refusal: AccessRefusal, allowBearer: boolean): Response {
  const headers: Record<string, string> = { "Content-Type": "application/json", "Cache-Control": "no-store" };
  if (refusal.status === 401 || refusal.status === 403 || refusal.status === 400) headers["WWW-Authenticate"] = challenge(refusal, allowBearer);
  if (refusal.status === 503) headers["Retry-After"] = "2";
  return new Response(JSON.stringify({ error: refusal.error, error_description: refusal.description }), { status: refusal.status, headers });
}

/**
 * RFC 9449 §7.2: no credentials, no error; an unambiguous scheme carries the error in its own
 * challenge; otherwise both may. The DPoP challenge always names the accepted algorithms.
 */
function challenge(refusal: AccessRefusal, allowBearer: boolean): string {
  const params = `error="${refusal.error}", error_description="${refusal.description}"`;
  const dpop = (withError: boolean) => (withError ? `DPoP ${params}, algs="${DPOP_ALGS_PARAMETER}"` : `DPoP algs="${DPOP_ALGS_PARAMETER}"`);
  if (refusal.scheme === "DPoP") return dpop(true);
  if (refusal.scheme === "Bearer") return `Bearer ${params}, ${dpop(false)}`;
  // No scheme and 401: the request had no credentials at all.
  if (refusal.status === 401) return allowBearer ? `Bearer, ${dpop(false)}` : dpop(false);
  return allowBearer ? `Bearer ${params}, ${dpop(true)}` : dpop(true);
}
