import type { Hono } from "hono";
import { BrokerError } from "../errors/broker-error.js";
import type { RevokeToken } from "../introspection/revoke-token.js";
import type { AppEnv } from "./app-env.js";
import { refuseAuthorizationHeader, refuseBodyCredentials } from "./client-authentication.js";
import { readForm } from "./form.js";
import { methodNotAllowed } from "./method-not-allowed.js";

const NOTHING_REPEATS: ReadonlySet<string> = new Set();

/**
 * POST /revoke: RFC 7009 token revocation by the holder. No client authentication: the token
 * itself proves possession (public clients). 200 with an empty body whether or not the token
 * was valid (§2.2); 503 when the store is down (§2.2.1: the client may retry).
 */
export function revocationRoutes(app: Hono<AppEnv>, deps: { revokeToken: RevokeToken; maxBodyBytes: number }): void {
  app.post("/revoke", async (c) => {
    // RFC 7009 §2.1 with public clients: credentials the broker would not check are refused.
    refuseAuthorizationHeader(c);
    const form = await readForm(c, NOTHING_REPEATS, deps.maxBodyBytes);
    refuseBodyCredentials(form);
    const token = form.single("token");
    if (token === undefined) throw new BrokerError("invalid_request", "token is required");
    // token_type_hint: `access_token` is all there is; unknown values are ignored, since the
    // server searches every type it supports anyway (§2.1).
    await deps.revokeToken({ token, requestId: c.get("requestId"), clientAddress: c.get("clientAddress") });
    c.header("Cache-Control", "no-store");
    return c.body(null, 200);
  });
  methodNotAllowed(app, "/revoke", "POST");
}
