import type { Hono } from "hono";
import { BrokerError } from "../errors/broker-error.js";
import type { AuthenticateCaller } from "../authorization/authenticate-caller.js";
import type { IntrospectToken } from "../introspection/introspect-token.js";
import type { AppEnv } from "./app-env.js";
import { requireBrokerToken } from "./bearer-auth.js";
import { readForm } from "./form.js";
import { methodNotAllowed } from "./method-not-allowed.js";

const NOTHING_REPEATS: ReadonlySet<string> = new Set();

/**
 * POST /introspect: RFC 7662 token introspection. The caller (a resource server) authenticates
 * with a broker access token carrying the introspection scope (§2.1 leaves the method open).
 */
export function introspectionRoutes(
  app: Hono<AppEnv>,
  deps: { introspectToken: IntrospectToken; authenticate: AuthenticateCaller; scope: string; maxBodyBytes: number },
): void {
  app.post("/introspect", requireBrokerToken({ authenticate: deps.authenticate, scope: deps.scope }), async (c) => {
    const form = await readForm(c, NOTHING_REPEATS, deps.maxBodyBytes);
    const token = form.single("token");
    if (token === undefined) throw new BrokerError("invalid_request", "token is required");
    // token_type_hint (§2.1) is only a hint: every token this broker can vouch for is an access token.
    const result = await deps.introspectToken(token);
    // RFC 7662 §4 + RFC 6749 §5.1: the answer is about a live credential; never cache it.
    c.header("Cache-Control", "no-store");
    c.header("Pragma", "no-cache");
    return c.json(result);
  });
  methodNotAllowed(app, "/introspect", "POST");
}
