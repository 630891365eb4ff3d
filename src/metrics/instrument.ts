import type { AuditEvent, AuditSink } from "../audit/audit-event.js";
import { aroundCalls, type AroundCall, type CallLabels } from "../lib/around-calls.js";
import type { Clock } from "../lib/clock.js";
import type { HttpFetch } from "../lib/http-fetch.js";
import type { ReadIssuanceState } from "../revocation/issuance-state.js";
import { STORE_CALLS, StoreUnavailableError, type RevocationStore } from "../revocation/revocation-store.js";
import type { BrokerMetrics } from "./broker-metrics.js";

/** What the counting audit sink needs besides the metrics. */
export interface AuditCountingOptions {
  /** For the lifetime of an issued credential: its `exp` minus now. */
  readonly clock: Clock;
  /**
   * The `issuer` label of a decision: the configured issuer id it names, "broker" for the
   * broker's own tokens, else "none". A closed set, so an attacker's `iss` never becomes a label.
   */
  readonly issuerLabel: (issuer: string | undefined) => string;
}

/**
 * Counts every decision as it is audited: the audit record is the one place every outcome
 * passes, so the counters can never disagree with the audit log.
 */
export function countingAuditSink(sink: AuditSink, metrics: BrokerMetrics, options: AuditCountingOptions): AuditSink {
  const lifetime = (exp: number | undefined): number | undefined => (exp === undefined ? undefined : Math.max(0, exp - options.clock.now() / 1000));
  return {
    record(event: AuditEvent) {
      sink.record(event);
      switch (event.event) {
        case "token_exchange": {
          const credential = event.requestedTokenType ?? "unknown";
          metrics.exchanges.inc({
            outcome: event.decision,
            reason: event.error ?? "ok",
            policy: event.policy ?? "none",
            token_type: credential,
            issuer: options.issuerLabel(event.issuer),
          });
          const seconds = event.decision === "allow" ? lifetime(event.exp) : undefined;
          if (seconds !== undefined) metrics.issuedLifetime.observe({ credential }, seconds);
          break;
        }
        case "svid_issuance": {
          metrics.svids.inc({ outcome: event.decision, reason: event.error ?? "ok" });
          const seconds = event.decision === "allow" ? lifetime(event.exp) : undefined;
          if (seconds !== undefined) metrics.issuedLifetime.observe({ credential: "x509_svid" }, seconds);
          break;
        }
        case "admin":
          metrics.adminActions.inc({ action: event.action, outcome: event.outcome });
          break;
        case "token_revocation":
          metrics.adminActions.inc({ action: "holder_revoke", outcome: event.outcome });
          break;
      }
    },
  };
}

/** Counts outbound fetches (issuer discovery and JWKS only) by host and outcome. */
export function countingFetch(fetch: HttpFetch, metrics: BrokerMetrics): HttpFetch {
  return async (url, init) => {
    const host = new URL(url).host;
    try {
      const response = await fetch(url, init);
      metrics.jwksFetches.inc({ host, outcome: response.ok ? "ok" : `http_${response.status}` });
      return response;
    } catch (error) {
      metrics.jwksFetches.inc({ host, outcome: "error" });
      throw error;
    }
  };
}

/** The `operation` label of each store call's metrics: its name, but for the two below. */
const STORE_OPERATIONS: CallLabels<RevocationStore> = {
  ...STORE_CALLS,
  // The same read as tokenStatus, under the same label.
  tokenRevocation: "tokenStatus",
  // Not timed.
  close: null,
};

/**
 * The store with every call timed and its outages counted, telling `onUnavailable` of each
 * (readiness); behaviour is unchanged. One object serves every role of the store.
 */
export function timedRevocationStore(store: RevocationStore, metrics: BrokerMetrics, onUnavailable: () => void = () => undefined): RevocationStore {
  return { kind: store.kind, ...aroundCalls(store, STORE_OPERATIONS, storeCallTimer(metrics, onUnavailable)) };
}

/** The store's issuance read (ReadIssuanceState), timed and counted as every store call, as `issuanceState`. */
export function timedIssuanceState(read: ReadIssuanceState, metrics: BrokerMetrics, onUnavailable: () => void = () => undefined): ReadIssuanceState {
  const time = storeCallTimer(metrics, onUnavailable);
  return (query) => time("issuanceState", () => read(query));
}

/** Times one store call and counts its outcome by operation, telling `onUnavailable` of each outage. */
function storeCallTimer(metrics: BrokerMetrics, onUnavailable: () => void): AroundCall {
  // performance.now rather than prom-client's startTimer: no closures nor hrtime arrays per call.
  return async (operation, call) => {
    const started = performance.now();
    try {
      const result = await call();
      metrics.storeOperations.inc({ operation, outcome: "ok" });
      return result;
    } catch (error) {
      const unavailable = error instanceof StoreUnavailableError;
      metrics.storeOperations.inc({ operation, outcome: unavailable ? "unavailable" : "error" });
      if (unavailable) onUnavailable();
      throw error;
    } finally {
      metrics.storeDuration.observe({ operation }, (performance.now() - started) / 1000);
    }
  };
}
