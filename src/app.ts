import { Hono } from "hono";
import type { AuditSink } from "./audit/audit-event.js";
import type { RequestAudits } from "./audit/request-audits.js";
import type { KeyStore } from "./credentials/key-store.js";
import type { DpopNonces } from "./dpop/nonce.js";
import type { ExchangeToken } from "./exchange/exchange-token.js";
import type { AppEnv } from "./http/app-env.js";
import { errorResponse } from "./http/error-response.js";
import { adminRoutes, type AdminRouteDeps } from "./http/admin-routes.js";
import { clientRateLimit } from "./http/client-rate-limit.js";
import { healthRoutes, type ReadinessCheck } from "./http/health-routes.js";
import { introspectionRoutes } from "./http/introspection-routes.js";
import { metadataRoutes } from "./http/metadata-routes.js";
import { httpMetrics, metricsRoutes } from "./http/metrics-routes.js";
import { requestContext } from "./http/request-context.js";
import { requireAdmin } from "./http/require-admin.js";
import { revocationRoutes } from "./http/revocation-routes.js";
import { svidRoutes, type SvidRouteDeps } from "./http/svid-routes.js";
import { dpopNonceHeader, tokenRoutes } from "./http/token-routes.js";
import type { Log } from "./lib/log.js";
import type { BrokerMetrics } from "./metrics/broker-metrics.js";
import type { AdmitClient } from "./authorization/rate-limit-gate.js";
import type { AuthenticateCaller } from "./authorization/authenticate-caller.js";
import type { IntrospectToken } from "./introspection/introspect-token.js";
import type { RevokeToken } from "./introspection/revoke-token.js";

/**
 * How a route authenticates its caller. Every route is listed here, in one place.
 * - `subject-token`: the workload's token in the body is the proof (RFC 8693).
 * - `token-possession`: the token in the body proves possession of itself (RFC 7009).
 * - `bearer-introspection`: a broker access token with the introspection scope (RFC 6750; a
 *   DPoP-bound one with the DPoP scheme and a proof, RFC 9449 §7.1).
 * - `bearer-admin`: the bootstrap admin secret, or a broker access token with the admin scope (the same).
 */
export type AuthMode = "public" | "subject-token" | "token-possession" | "bearer-introspection" | "bearer-admin";

export const ROUTE_TABLE: readonly { method: "GET" | "POST" | "DELETE"; path: string; auth: AuthMode }[] = [
  { method: "POST", path: "/token", auth: "subject-token" },
  { method: "POST", path: "/svid/x509", auth: "subject-token" },
  { method: "POST", path: "/introspect", auth: "bearer-introspection" },
  { method: "POST", path: "/revoke", auth: "token-possession" },
  { method: "POST", path: "/admin/revocations/tokens", auth: "bearer-admin" },
  { method: "POST", path: "/admin/revocations/workloads", auth: "bearer-admin" },
  { method: "GET", path: "/admin/revocations", auth: "bearer-admin" },
  { method: "DELETE", path: "/admin/blocks/:workloadId", auth: "bearer-admin" },
  { method: "POST", path: "/admin/revocations/svids", auth: "bearer-admin" },
  { method: "GET", path: "/admin/workloads", auth: "bearer-admin" },
  { method: "GET", path: "/.well-known/oauth-authorization-server", auth: "public" },
  { method: "GET", path: "/.well-known/openid-configuration", auth: "public" },
  { method: "GET", path: "/.well-known/jwks.json", auth: "public" },
  { method: "GET", path: "/.well-known/spiffe-bundle", auth: "public" },
  { method: "GET", path: "/svid/bundle.pem", auth: "public" },
  { method: "GET", path: "/svid/crl", auth: "public" },
  { method: "GET", path: "/svid/crls.pem", auth: "public" },
  { method: "GET", path: "/healthz", auth: "public" },
  { method: "GET", path: "/readyz", auth: "public" },
  { method: "GET", path: "/metrics", auth: "public" },
];

/** The admin use cases behind /admin/ (built in build-broker.ts). */
export type AdminUseCases = Omit<AdminRouteDeps, "requireAdmin" | "maxBodyBytes">;

/** What the routes need: use cases already built (build-broker.ts), plus HTTP settings. */
export interface AppDeps {
  readonly issuerUrl: string;
  readonly maxBodyBytes: number;
  readonly keys: KeyStore;
  readonly exchangeToken: ExchangeToken;
  readonly introspectToken: IntrospectToken;
  readonly revokeToken: RevokeToken;
  readonly admin: AdminUseCases;
  /** Authenticates broker-token callers of /introspect and /admin/. */
  readonly authenticate: AuthenticateCaller;
  readonly readiness: readonly ReadinessCheck[];
  readonly log: Log;
  /** Where /admin/ refusals are recorded. */
  readonly audit: AuditSink;
  /**
   * Pairs each request's audit records with its access facts, so an audited request writes one
   * line (the audit sink's); undefined: every request writes an access line of its own.
   */
  readonly requestAudits?: RequestAudits;
  /** Bootstrap admin secret; undefined: only admin-scoped broker tokens open /admin/. */
  readonly adminSecret: string | undefined;
  readonly adminScope: string;
  readonly introspectionScope: string;
  /** X.509-SVIDs, the SPIFFE bundle and the CRL; undefined: no CA, those routes answer 404. */
  readonly svid?: SvidRouteDeps;
  /** Prometheus metrics; undefined: no /metrics and no request timing (in-process tests). */
  readonly metrics?: BrokerMetrics;
  /**
   * RFC 9449 DPoP: defined when the broker's own bearer endpoints take `Authorization: DPoP`
   * (`authenticate` checks the proofs; challenges offer the scheme), with the nonces every /token
   * answer carries when they are required. Undefined: the DPoP scheme is refused.
   */
  readonly dpop?: { readonly nonces?: DpopNonces };
  /** The client-address rate limit of /token and /svid/x509; undefined: none (in-process tests). */
  readonly admitClient?: AdmitClient;
}

/** Builds the HTTP app: middleware order, then the routes of ROUTE_TABLE. */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("*", requestContext({ log: deps.log, audits: deps.requestAudits }));
  if (deps.metrics) {
    app.use("*", httpMetrics(deps.metrics));
    metricsRoutes(app, { metrics: deps.metrics });
  }

  if (deps.dpop?.nonces) app.use("/token", dpopNonceHeader(deps.dpop.nonces));
  // Before the routes, so a client over its limit is refused before its body is read.
  if (deps.admitClient) {
    app.post("/token", clientRateLimit(deps.admitClient, "/token"));
    app.post("/svid/x509", clientRateLimit(deps.admitClient, "/svid/x509"));
  }
  tokenRoutes(app, { exchangeToken: deps.exchangeToken, maxBodyBytes: deps.maxBodyBytes });
  metadataRoutes(app, { issuerUrl: deps.issuerUrl, keys: deps.keys });
  svidRoutes(app, { svid: deps.svid, keys: deps.keys, maxBodyBytes: deps.maxBodyBytes });
  healthRoutes(app, { readiness: deps.readiness });

  const { authenticate, maxBodyBytes } = deps;
  introspectionRoutes(app, { introspectToken: deps.introspectToken, authenticate, scope: deps.introspectionScope, maxBodyBytes });
  revocationRoutes(app, { revokeToken: deps.revokeToken, maxBodyBytes });
  adminRoutes(app, {
    requireAdmin: requireAdmin({ secret: deps.adminSecret, scope: deps.adminScope, authenticate, audit: deps.audit }),
    ...deps.admin,
    maxBodyBytes,
  });

  app.on(["GET", "PUT", "DELETE", "PATCH"], ["/token", "/svid/x509"], (c) => {
    c.header("Allow", "POST");
    return c.json({ error: "invalid_request", error_description: "use POST" }, 405);
  });
  app.notFound((c) => c.json({ error: "not_found", error_description: "no such endpoint" }, 404));
  const challenges = { realm: deps.issuerUrl, dpop: deps.dpop !== undefined };
  app.onError((error, c) => errorResponse(c, error, deps.log, challenges));
  return app;
}
