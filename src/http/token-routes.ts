import type { Hono } from "hono";
import { parseTokenExchangeRequest } from "../exchange/token-request.js";
import type { ExchangeToken } from "../exchange/exchange-token.js";
import type { AppEnv } from "./app-env.js";
import { readForm } from "./form.js";

/** RFC 8693 §2.1: only audience and resource may repeat. */
const REPEATABLE = new Set(["audience", "resource"]);

/** POST /token: RFC 8693 token exchange. */
export function tokenRoutes(app: Hono<AppEnv>, deps: { exchangeToken: ExchangeToken; maxBodyBytes: number }): void {
  app.post("/token", async (c) => {
    const request = parseTokenExchangeRequest(await readForm(c, REPEATABLE, deps.maxBodyBytes));
    const result = await deps.exchangeToken({ request, requestId: c.get("requestId"), clientAddress: c.get("clientAddress") });
    // RFC 6749 §5.1: token responses must not be cached.
    c.header("Cache-Control", "no-store");
    c.header("Pragma", "no-cache");
    return c.json(result);
  });
}
