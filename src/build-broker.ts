import { createApp, type AdminUseCases } from "./app.js";
import type { AuditSink } from "./audit/audit-event.js";
import type { RequestAudits } from "./audit/request-audits.js";
import type { Config } from "./config.js";
import { createAccessTokenMinter, type AccessTokenMinter } from "./credentials/access-token.js";
import { createBrokerTokenVerifier, type BrokerTokenVerifier } from "./credentials/broker-token-verifier.js";
import { createJwtSvidMinter } from "./credentials/jwt-svid.js";
import type { KeyStore } from "./credentials/key-store.js";
import type { CaSource } from "./credentials/x509/ca-set.js";
import { createBrokerDpop, type BrokerDpop } from "./authorization/broker-dpop.js";
import { createExchangeToken, type ExchangeToken } from "./exchange/exchange-token.js";
import { createReExchange } from "./exchange/re-exchange.js";
import { createVerifyActor } from "./authorization/verify-actor.js";
import type { ReadinessCheck } from "./http/health-routes.js";
import type { SvidRouteDeps } from "./http/svid-routes.js";
import type { TokenVerifier } from "./identity/token-verifier.js";
import { epochSeconds, type Clock } from "./lib/clock.js";
import type { Log } from "./lib/log.js";
import { Semaphore } from "./lib/semaphore.js";
import { BrokerMetrics } from "./metrics/broker-metrics.js";
import { inForceCounts } from "./metrics/in-force.js";
import { countingAuditSink, timedIssuanceState, timedRevocationStore } from "./metrics/instrument.js";
import { TimeToRevoke } from "./metrics/time-to-revoke.js";
import type { PolicySet } from "./policy/index.js";
import { admitInOneTrip, type AdmitIssuance } from "./authorization/admit-issuance.js";
import { createRateLimitGate, type AdmitWorkload } from "./authorization/rate-limit-gate.js";
import { reportingOutages, type RateLimiter } from "./rate-limit/rate-limiter.js";
import { shedWhenBusy, type ShedWork } from "./rate-limit/shed-load.js";
import type { ReadIssuanceState } from "./revocation/issuance-state.js";
import type { RevocationStore } from "./revocation/revocation-store.js";
import { createAuthenticateCaller, type AuthenticateCaller } from "./authorization/authenticate-caller.js";
import { createIntrospectToken } from "./introspection/introspect-token.js";
import { createListRevocations } from "./admin/list-revocations.js";
import { createRevokeTokenId } from "./admin/revoke-token-id.js";
import { createRevokeToken } from "./introspection/revoke-token.js";
import { createRevokeWorkload } from "./admin/revoke-workload.js";
import { StoreReadiness } from "./revocation/store-readiness.js";
import { createUnblockWorkload } from "./admin/unblock-workload.js";
import { createRevokeSvid } from "./admin/revoke-svid.js";
import { createListWorkloads, type ListWorkloads } from "./admin/list-workloads.js";
import { BrokerError } from "./errors/broker-error.js";
import type { InventoryStore } from "./inventory/inventory-store.js";
import { createIssuanceRecorder, DEFAULT_INVENTORY_COALESCE_MS, DEFAULT_INVENTORY_IN_FLIGHT, type RecordIssuance } from "./inventory/issuance-recorder.js";
import { createIssueX509Svid } from "./svid/issue-x509-svid.js";
import { createPublishCrl } from "./svid/publish-crl.js";

/**
 * The settings the broker's use cases read. A full {@link Config} is one; in-process tests pass
 * `{ ...loadConfig({}), ...overrides }`. `dpop` undefined: no DPoP at all (the DPoP scheme is
 * refused, /token takes no proofs), for in-process tests whose challenges predate DPoP.
 */
export type BrokerSettings = Pick<
  Config,
  | "issuerUrl"
  | "maxBodyBytes"
  | "maxTokenLifetimeSeconds"
  | "ownTokenAudience"
  | "svidMaxLifetimeSeconds"
  | "crlNextUpdateSeconds"
  | "rateLimits"
  | "concurrency"
  | "adminSecret"
  | "adminScope"
  | "introspectionScope"
> & { readonly dpop?: Config["dpop"] };

/**
 * Everything the broker needs from outside, already opened: files read, Redis connected,
 * loggers made. main.ts opens the real ones; tests pass in-memory ones.
 */
export interface BrokerPorts {
  /** Signing keys; `activeSince` feeds the key-age gauge. */
  readonly keys: KeyStore & { activeSince(): number | undefined };
  /** Verifies external subject and actor tokens (built over the injected fetch). */
  readonly verifier: TokenVerifier;
  /** The current policy set (a PolicyStore follows reloads). */
  readonly policies: { current(): PolicySet };
  /** Revocation state; closed by {@link Broker.close}. */
  readonly revocations: RevocationStore;
  readonly limiter: RateLimiter;
  /**
   * The store's issuance checks and the workload's rate charge in one round trip, over the same
   * store and limiter state (Redis standalone or Sentinel); undefined: asked in turn.
   */
  readonly issuanceState?: ReadIssuanceState;
  /** The X.509-SVID CA; undefined: the SVID routes answer 404. */
  readonly ca?: CaSource;
  readonly clock: Clock;
  readonly log: Log;
  readonly audit: AuditSink;
  /** The audit sink's pairing of records with their request (one line per audited request); undefined: none. */
  readonly requestAudits?: RequestAudits;
  /** Prometheus metrics; undefined: no /metrics and no request timing (the counting is private). */
  readonly metrics?: BrokerMetrics;
  /** True once the process drains for shutdown: /readyz then says "shutting down". */
  readonly isDraining?: () => boolean;
  /** The workload inventory (GET /admin/workloads); undefined: off (nothing recorded, the route says so). */
  readonly inventory?: InventoryStore;
  /** The in-flight bounds of /token and /svid/x509; default from `concurrency` (tests hold permits). */
  readonly workBounds?: { readonly token: Semaphore; readonly svid: Semaphore };
}

export interface Broker {
  readonly app: ReturnType<typeof createApp>;
  /** Closes the revocation store (and with it the Redis client it owns). */
  close(): Promise<void>;
}

/** The composition root: every use case and the HTTP app, from settings and opened ports. */
export function buildBroker(settings: BrokerSettings, ports: BrokerPorts): Broker {
  const { keys, clock, log } = ports;
  const metrics = ports.metrics ?? new BrokerMetrics();
  // Readiness follows what the store does for requests, not only a probe (store-readiness.ts).
  const storeReadiness = new StoreReadiness(ports.revocations.kind, () => revocations.ping());
  const audit = countingAuditSink(ports.audit, metrics, { clock, issuerLabel: issuerLabels(ports.verifier.issuers().map((issuer) => issuer.id), settings.issuerUrl) });
  const { revocations, rateLimits, admitIssuance } = instrumentedStore(settings, ports, metrics, audit, () => storeReadiness.recordFailure());
  addScrapeGauges(metrics, ports, revocations);
  const dpop = settings.dpop === undefined ? undefined : createBrokerDpop({ issuerUrl: settings.issuerUrl, revocations, clock, ...settings.dpop });
  if (dpop?.ephemeralNonceSecret) {
    log.warn({}, "BROKER_DPOP_NONCE=required without BROKER_DPOP_NONCE_SECRET: DPoP nonces hold on this replica only; give every replica the same secret");
  }
  const minter = createAccessTokenMinter({ issuer: settings.issuerUrl, keys, clock });
  const brokerTokens = createBrokerTokenVerifier({ issuer: settings.issuerUrl, keys, clock });
  const recordIssuance = ports.inventory && createIssuanceRecorder(ports.inventory, {
      maxInFlight: DEFAULT_INVENTORY_IN_FLIGHT,
      coalesceMs: DEFAULT_INVENTORY_COALESCE_MS,
      onOutcome: (outcome) => metrics.inventoryWrites.inc({ outcome }),
    });
  const parts: UseCaseParts = { settings, ports, revocations, audit, minter, brokerTokens, admitWorkload: rateLimits.admitWorkload, admitIssuance, dpop, recordIssuance };
  const onShed = (work: ShedWork) => metrics.shed.inc({ work });
  const { concurrency } = settings;
  const workBounds = ports.workBounds ?? {
    token: new Semaphore(concurrency.token.inFlight, concurrency.token.queued),
    svid: new Semaphore(concurrency.svid.inFlight, concurrency.svid.queued),
  };
  const svid = svidDeps(parts, (issue) => shedWhenBusy(issue, workBounds.svid, { work: "x509_svid", onShed }));
  // Say whether the bootstrap secret opens /admin/, never what it is.
  log.info({ bootstrapSecret: settings.adminSecret !== undefined, adminScope: settings.adminScope }, "admin API: admin-scoped broker tokens accepted");
  const app = createApp({
    issuerUrl: settings.issuerUrl,
    maxBodyBytes: settings.maxBodyBytes,
    keys,
    // Bounded: beyond the in-flight and queue limits an exchange is shed (503) before any work.
    exchangeToken: shedWhenBusy(exchangeTokenUseCase(parts), workBounds.token, { work: "token", onShed }),
    introspectToken: createIntrospectToken({ brokerTokens, revocations }),
    revokeToken: createRevokeToken({ brokerTokens, revocations, audit, clock }),
    admin: adminUseCases(parts, svid),
    authenticate: authenticateCaller(parts),
    log,
    audit,
    requestAudits: ports.requestAudits,
    adminSecret: settings.adminSecret,
    adminScope: settings.adminScope,
    introspectionScope: settings.introspectionScope,
    svid,
    ...(ports.metrics ? { metrics: ports.metrics } : {}),
    admitClient: rateLimits.admitClient,
    ...(dpop ? { dpop: dpop.nonces ? { nonces: dpop.nonces } : {} } : {}),
    readiness: readinessChecks(ports, storeReadiness),
  });
  // The inventory's last second of issuances is written before the store's client closes.
  const close = async (): Promise<void> => {
    ports.ca?.close?.();
    await recordIssuance?.drain();
    await revocations.close();
  };
  return { app, close };
}

/**
 * The `issuer` label of a decision record: a configured issuer id as it is, the broker's own issuer
 * as "broker", anything else "none" (a closed set: the label never carries a caller's `iss`).
 */
function issuerLabels(issuerIds: readonly string[], brokerIssuer: string): (issuer: string | undefined) => string {
  const known = new Set(issuerIds);
  return (issuer) => (issuer === undefined ? "none" : known.has(issuer) ? issuer : issuer === brokerIssuer ? "broker" : "none");
}

/**
 * The store and the limiter as requests use them: every call timed and counted, the refusals the
 * store answers timed (time to revoke), every outage telling readiness (`onUnavailable`: the
 * limiter shares the store's Redis, main.ts). With the store's one-trip issuance read, that read too.
 */
function instrumentedStore(settings: BrokerSettings, ports: BrokerPorts, metrics: BrokerMetrics, audit: AuditSink, onUnavailable: () => void) {
  // Timed first, then watched for the refusals it answers (time to revoke).
  const timeToRevoke = new TimeToRevoke(metrics, ports.clock);
  const revocations = timeToRevoke.observing(timedRevocationStore(ports.revocations, metrics, onUnavailable));
  const limiter = reportingOutages(ports.limiter, onUnavailable);
  const rateLimits = createRateLimitGate({ limiter, ...settings.rateLimits, audit, onLimited: (limit) => metrics.rateLimited.inc({ limit }) });
  const read = ports.issuanceState && timeToRevoke.observingIssuance(timedIssuanceState(ports.issuanceState, metrics, onUnavailable));
  const admitIssuance = read && admitInOneTrip(read, rateLimits.workloadLimit, rateLimits.judgeWorkloadCharge);
  return { revocations, rateLimits, admitIssuance };
}

/** The gauges read at scrape time: revocations in force, the signing key's age, the CA's expiry, each issuer's key age. */
function addScrapeGauges(metrics: BrokerMetrics, ports: BrokerPorts, revocations: RevocationStore): void {
  const { keys, clock, ca, verifier } = ports;
  metrics.addScrapeGauges({
    inForce: inForceCounts(revocations, clock),
    signingKeyAgeSeconds: () => signingKeyAgeSeconds(keys, clock),
    ...(ca === undefined ? {} : { caNotAfter: () => ca.current().published.map((each) => ({ ca: each.name, state: each.state, notAfter: each.ca.notAfter })) }),
    issuerKeyAges: () => verifier.keyAges(),
  });
}

/** Seconds since the active signing key began to sign; undefined when the key store cannot say. */
function signingKeyAgeSeconds(keys: BrokerPorts["keys"], clock: Clock): number | undefined {
  const since = keys.activeSince();
  return since === undefined ? undefined : Math.max(0, epochSeconds(clock) - since);
}

/** Who calls /introspect and /admin/ with a broker token (RFC 6750, or RFC 9449 §7.1 DPoP). */
function authenticateCaller(parts: UseCaseParts): AuthenticateCaller {
  const { brokerTokens, revocations, settings, dpop } = parts;
  return createAuthenticateCaller({ brokerTokens, revocations, issuerUrl: settings.issuerUrl, ...(dpop ? { dpop: dpop.resourceProofs } : {}) });
}

/** The /admin/ use cases: revoke by jti, workload or serial; list; unblock. */
function adminUseCases(parts: UseCaseParts, svid: SvidRouteDeps | undefined): AdminUseCases {
  const { revocations, audit, ports, settings } = parts;
  const { clock } = ports;
  const maxLifetimeSeconds = settings.maxTokenLifetimeSeconds;
  // A workload revocation must outlive every credential it covers, X.509-SVIDs included.
  const workloadRevocationSeconds = Math.max(maxLifetimeSeconds, svid?.maxLifetimeSeconds ?? 0);
  return {
    revokeTokenId: createRevokeTokenId({ revocations, audit, clock, maxLifetimeSeconds }),
    revokeWorkload: createRevokeWorkload({ revocations, audit, clock, maxLifetimeSeconds: workloadRevocationSeconds }),
    revokeSvid: createRevokeSvid({ revocations, audit, clock }),
    listRevocations: createListRevocations({ revocations, audit }),
    unblockWorkload: createUnblockWorkload({ revocations, audit }),
    listWorkloads: listWorkloads(parts),
  };
}

/** GET /admin/workloads over the inventory, or a plain refusal when the inventory is off. */
function listWorkloads(parts: UseCaseParts): ListWorkloads {
  const { ports, revocations, audit } = parts;
  if (ports.inventory === undefined) {
    return () => Promise.reject(new BrokerError("not_found", "the workload inventory is off on this broker (BROKER_INVENTORY=off)"));
  }
  return createListWorkloads({ inventory: ports.inventory, policies: () => ports.policies.current(), revocations, audit, clock: ports.clock });
}

/** What /readyz checks, in order. */
function readinessChecks(ports: BrokerPorts, storeReadiness: StoreReadiness): ReadinessCheck[] {
  const isDraining = ports.isDraining ?? (() => false);
  return [
    // A draining replica answers what reaches it, but a load balancer should send nothing new.
    { name: "accepting", check: () => ({ ok: !isDraining(), ...(isDraining() ? { detail: "shutting down" } : {}) }) },
    // A token custody answers for itself: a token that does not answer makes the replica not ready.
    { name: "signing_keys", check: () => ports.keys.readiness?.() ?? { ok: ports.keys.publishedKeys().length > 0 } },
    { name: "policies", check: () => ({ ok: true, detail: `version ${ports.policies.current().version}` }) },
    { name: "revocation_store", check: () => storeReadiness.check() },
  ];
}

/** What the use-case builders share, made once in {@link buildBroker}. */
interface UseCaseParts {
  readonly settings: BrokerSettings;
  readonly ports: BrokerPorts;
  /** The ports' store and sink, instrumented. */
  readonly revocations: RevocationStore;
  readonly audit: AuditSink;
  readonly minter: AccessTokenMinter;
  readonly brokerTokens: BrokerTokenVerifier;
  readonly admitWorkload: AdmitWorkload;
  /** The store's checks and the workload's charge in one round trip; undefined: in turn. */
  readonly admitIssuance: AdmitIssuance | undefined;
  readonly dpop: BrokerDpop | undefined;
  /** Tells the inventory of each credential issued, without waiting; undefined: inventory off. */
  readonly recordIssuance: RecordIssuance | undefined;
}

/** POST /token: external exchange, re-exchange, delegation, JWT-SVID. */
function exchangeTokenUseCase(parts: UseCaseParts): ExchangeToken {
  const { settings, ports, revocations, audit, minter, brokerTokens, admitWorkload, admitIssuance } = parts;
  const { verifier, clock } = ports;
  const policies = () => ports.policies.current();
  const issuer = settings.issuerUrl;
  return createExchangeToken({
    verifier,
    revocations,
    reExchange: createReExchange({
      brokerTokens,
      minter,
      revocations,
      clock,
      issuer,
      maxLifetimeSeconds: settings.maxTokenLifetimeSeconds,
      policies,
      admitWorkload,
      ownTokenAudience: settings.ownTokenAudience,
    }),
    verifyActor: createVerifyActor({
      verifier,
      brokerTokens,
      revocations,
      policies,
      issuer,
      ownTokenAudience: settings.ownTokenAudience,
      admitWorkload,
      describeIssuer: (iss) => verifier.describeIssuer(iss),
    }),
    ...(parts.dpop ? { verifyDpopProof: parts.dpop.verifyTokenRequestProof } : {}),
    policies,
    minter,
    jwtSvids: createJwtSvidMinter({ issuer, keys: ports.keys, clock }),
    audit,
    clock,
    maxLifetimeSeconds: settings.maxTokenLifetimeSeconds,
    admitWorkload,
    admitIssuance,
    ...(parts.recordIssuance ? { recordIssuance: parts.recordIssuance } : {}),
  });
}

/** POST /svid/x509, the bundle and the CRL; undefined without a CA (those routes answer 404). */
function svidDeps(parts: UseCaseParts, bound: (issue: SvidRouteDeps["issueX509Svid"]) => SvidRouteDeps["issueX509Svid"]): SvidRouteDeps | undefined {
  const { settings, ports, revocations, audit, admitWorkload, admitIssuance } = parts;
  const { ca, verifier, clock } = ports;
  if (ca === undefined) return undefined;
  const maxLifetimeSeconds = settings.svidMaxLifetimeSeconds;
  return {
    ca,
    maxLifetimeSeconds,
    issueX509Svid: bound(
      createIssueX509Svid({ verifier, policies: () => ports.policies.current(), revocations, ca, audit, clock, maxLifetimeSeconds, admitWorkload, admitIssuance, ...(parts.recordIssuance ? { recordIssuance: parts.recordIssuance } : {}) }),
    ),
    publishCrl: createPublishCrl({ ca, revocations, clock, nextUpdateSeconds: settings.crlNextUpdateSeconds }),
  };
}
