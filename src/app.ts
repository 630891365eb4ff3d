import { Hono } from "hono";
import type { AuditSink } from "./audit/audit-event.js";
import type { BrokerTokenVerifier } from "./credentials/broker-token-verifier.js";
import type { KeyStore } from "./credentials/key-store.js";
import type { DpopNonces } from "./dpop/nonce.js";
import type { DpopProofVerifier } from "./dpop/verify-proof.js";
import type { ExchangeToken } from "./exchange/exchange-token.js";
import type { AppEnv } from "./http/app-env.js";
import { errorResponse } from "./http/error-response.js";
import { adminRoutes } from "./http/admin-routes.js";
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
import type { Clock } from "./lib/clock.js";
import type { Log } from "./lib/log.js";
import type { BrokerMetrics } from "./metrics/broker-metrics.js";
import type { AdmitClient } from "./rate-limit/rate-limit-gate.js";
import { createAuthenticateCaller } from "./revocation/authenticate-caller.js";
import { createIntrospectToken } from "./revocation/introspect-token.js";
import { createListRevocations } from "./revocation/list-revocations.js";
import type { RevocationStore } from "./revocation/revocation-store.js";
import { createRevokeTokenId } from "./revocation/revoke-token-id.js";
import { createRevokeToken } from "./revocation/revoke-token.js";
import { createRevokeWorkload } from "./revocation/revoke-workload.js";
import { createUnblockWorkload } from "./revocation/unblock-workload.js";
import { createRevokeSvid } from "./svid/revoke-svid.js";

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
  { method: "GET", path: "/.well-known/oauth-authorization-server", auth: "public" },
  { method: "GET", path: "/.well-known/openid-configuration", auth: "public" },
  { method: "GET", path: "/.well-known/jwks.json", auth: "public" },
  { method: "GET", path: "/.well-known/spiffe-bundle", auth: "public" },
  { method: "GET", path: "/svid/bundle.pem", auth: "public" },
  { method: "GET", path: "/svid/crl", auth: "public" },
  { method: "GET", path: "/healthz", auth: "public" },
  { method: "GET", path: "/readyz", auth: "public" },
  { method: "GET", path: "/metrics", auth: "public" },
];

export interface AppDeps {
  readonly issuerUrl: string;
  readonly maxBodyBytes: number;
  readonly keys: KeyStore;
  readonly exchangeToken: ExchangeToken;
  readonly readiness: readonly ReadinessCheck[];
  readonly log: Log;
  /** Revocation state, shared by every replica when it is Redis. */
  readonly revocations: RevocationStore;
  /** Verifies broker-issued access tokens (introspection, revocation, admin tokens). */
  readonly brokerTokens: BrokerTokenVerifier;
  readonly audit: AuditSink;
  readonly clock: Clock;
  /** Global cap on issued lifetime, seconds: how long a workload revocation must last. */
  readonly maxTokenLifetimeSeconds: number;
  /** Bootstrap admin secret; undefined: only admin-scoped broker tokens open /admin/. */
  readonly adminSecret: string | undefined;
  readonly adminScope: string;
  readonly introspectionScope: string;
  /** X.509-SVIDs, the SPIFFE bundle and the CRL; undefined: no CA, those routes answer 404. */
  readonly svid?: SvidRouteDeps;
  /** Prometheus metrics; undefined: no /metrics and no request timing (in-process tests). */
  readonly metrics?: BrokerMetrics;
  /**
   * RFC 9449 DPoP at the broker's own bearer endpoints (`Authorization: DPoP` + proof), and the
   * nonces every /token answer carries when they are required. Undefined: the DPoP scheme is refused.
   */
  readonly dpop?: { readonly resourceProofs: DpopProofVerifier; readonly nonces?: DpopNonces };
  /** The client-address rate limit of /token and /svid/x509; undefined: none (in-process tests). */
  readonly admitClient?: AdmitClient;
}

/** Builds the HTTP app: middleware order, then the routes of ROUTE_TABLE. */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("*", requestContext({ log: deps.log }));
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

  const { revocations, brokerTokens, audit, clock, maxBodyBytes } = deps;
  const authenticate = createAuthenticateCaller({ brokerTokens, revocations, issuerUrl: deps.issuerUrl, ...(deps.dpop ? { dpop: deps.dpop.resourceProofs } : {}) });
  introspectionRoutes(app, {
    introspectToken: createIntrospectToken({ brokerTokens, revocations }),
    authenticate,
    scope: deps.introspectionScope,
    maxBodyBytes,
  });
  revocationRoutes(app, { revokeToken: createRevokeToken({ brokerTokens, revocations, audit, clock }), maxBodyBytes });
  const maxLifetimeSeconds = deps.maxTokenLifetimeSeconds;
  // A workload revocation must outlive every credential it covers, X.509-SVIDs included.
  const workloadRevocationSeconds = Math.max(maxLifetimeSeconds, deps.svid?.maxLifetimeSeconds ?? 0);
  adminRoutes(app, {
    requireAdmin: requireAdmin({ secret: deps.adminSecret, scope: deps.adminScope, authenticate, audit }),
    revokeTokenId: createRevokeTokenId({ revocations, audit, clock, maxLifetimeSeconds }),
    revokeWorkload: createRevokeWorkload({ revocations, audit, clock, maxLifetimeSeconds: workloadRevocationSeconds }),
    revokeSvid: createRevokeSvid({ revocations, audit, clock }),
    listRevocations: createListRevocations({ revocations, audit }),
    unblockWorkload: createUnblockWorkload({ revocations, audit }),
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
