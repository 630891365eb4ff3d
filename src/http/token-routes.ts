import { merged } from "../lib/merged.js";
import type { Hono, MiddlewareHandler } from "hono";
import type { DpopNonces } from "../dpop/nonce.js";
import { parseTokenExchangeRequest } from "../exchange/token-request.js";
import type { ExchangeToken } from "../exchange/exchange-token.js";
import type { AppEnv } from "./app-env.js";
import { refuseAuthorizationHeader, refuseBodyCredentials } from "./client-authentication.js";
import { readForm } from "./form.js";
import { jsonAnswer } from "./answer.js";

/** RFC 8693 §2.1: only audience and resource may repeat. */
const REPEATABLE = new Set(["audience", "resource"]);

/** POST /token: RFC 8693 token exchange. */
export function tokenRoutes(app: Hono<AppEnv>, deps: { exchangeToken: ExchangeToken; maxBodyBytes: number }): void {
  app.post("/token", async (c) => {
    // RFC 6749 §5.2: public clients only; credentials the broker does not check are refused.
    refuseAuthorizationHeader(c);
    const form = await readForm(c, REPEATABLE, deps.maxBodyBytes);
    refuseBodyCredentials(form);
    const request = parseTokenExchangeRequest(form);
    // RFC 9449 §5: a DPoP header binds the issued token to its key (read only when present: no cost otherwise).
    const dpopProof = c.req.header("dpop");
    const call = { request, requestId: c.get("requestId"), clientAddress: c.get("clientAddress") };
    // merged only with a proof, not a spread on every request (lib/merged.ts).
    const result = await deps.exchangeToken(dpopProof === undefined ? call : merged(call, { dpopProof }));
    // RFC 6749 §5.1: token responses must not be cached.
    const headers: Record<string, string> = { "Cache-Control": "no-store", Pragma: "no-cache" };
    // RFC 9449 §8: set on the context by dpopNonceHeader, whose c.header jsonAnswer does not carry.
    const nonce = c.get("dpopNonce");
    if (nonce !== undefined) headers["DPoP-Nonce"] = nonce;
    return jsonAnswer(c, result, 200, headers);
  });
}

/**
 * RFC 9449 §8, §8.2: when nonces are required, every /token answer carries the current nonce in
 * `DPoP-Nonce` (a success through the context's headers, an error through errorResponse), so a
 * client always holds a fresh one. Mounted before anything that can refuse a /token request.
 */
export function dpopNonceHeader(nonces: DpopNonces): MiddlewareHandler<AppEnv> {
  return async function dpopNonceMiddleware(c, next) {
    const nonce = nonces.current();
    c.set("dpopNonce", nonce);
    c.header("DPoP-Nonce", nonce);
    await next();
  };
}
