import { Hono } from "hono";
import type { KeyStore } from "./credentials/key-store.js";
import type { ExchangeToken } from "./exchange/exchange-token.js";
import type { AppEnv } from "./http/app-env.js";
import { errorResponse } from "./http/error-response.js";
import { healthRoutes, type ReadinessCheck } from "./http/health-routes.js";
import { metadataRoutes } from "./http/metadata-routes.js";
import { requestContext } from "./http/request-context.js";
import { tokenRoutes } from "./http/token-routes.js";
import type { Log } from "./lib/log.js";

/** How a route authenticates its caller. Every route is listed here, in one place. */
export type AuthMode = "public" | "subject-token";

export const ROUTE_TABLE: readonly { method: "GET" | "POST"; path: string; auth: AuthMode }[] = [
  { method: "POST", path: "/token", auth: "subject-token" },
  { method: "GET", path: "/.well-known/oauth-authorization-server", auth: "public" },
  { method: "GET", path: "/.well-known/openid-configuration", auth: "public" },
  { method: "GET", path: "/.well-known/jwks.json", auth: "public" },
  { method: "GET", path: "/healthz", auth: "public" },
  { method: "GET", path: "/readyz", auth: "public" },
];

export interface AppDeps {
  readonly issuerUrl: string;
  readonly maxBodyBytes: number;
  readonly keys: KeyStore;
  readonly exchangeToken: ExchangeToken;
  readonly readiness: readonly ReadinessCheck[];
  readonly log: Log;
}

/** Builds the HTTP app: middleware order, then the routes of ROUTE_TABLE. */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("*", requestContext({ log: deps.log }));

  tokenRoutes(app, { exchangeToken: deps.exchangeToken, maxBodyBytes: deps.maxBodyBytes });
  metadataRoutes(app, { issuerUrl: deps.issuerUrl, keys: deps.keys });
  healthRoutes(app, { readiness: deps.readiness });

  app.on(["GET", "PUT", "DELETE", "PATCH"], "/token", (c) => {
    c.header("Allow", "POST");
    return c.json({ error: "invalid_request", error_description: "use POST" }, 405);
  });
  app.notFound((c) => c.json({ error: "not_found", error_description: "no such endpoint" }, 404));
  app.onError((error, c) => errorResponse(c, error, deps.log));
  return app;
}
