import type { MiddlewareHandler } from "hono";
import type { AdmitClient, LimitedEndpoint } from "../authorization/rate-limit-gate.js";
import type { AppEnv } from "./app-env.js";

/**
 * Charges a request to its client address (from the socket, see request-context.ts) before the
 * body is read: a client over its limit costs one limiter call, not a parse and a verification.
 */
export function clientRateLimit(admit: AdmitClient, endpoint: LimitedEndpoint): MiddlewareHandler<AppEnv> {
  return async function clientRateLimitMiddleware(c, next) {
    await admit({ clientAddress: c.get("clientAddress"), requestId: c.get("requestId"), endpoint });
    await next();
  };
}
