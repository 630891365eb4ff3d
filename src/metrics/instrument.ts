import type { AuditEvent, AuditSink } from "../audit/audit-event.js";
import type { HttpFetch } from "../lib/http-fetch.js";
import { StoreUnavailableError, type RevocationStore } from "../revocation/revocation-store.js";
import type { BrokerMetrics } from "./broker-metrics.js";

/**
 * Counts every decision as it is audited: the audit record is the one place every outcome
 * passes, so the counters can never disagree with the audit log.
 */
export function countingAuditSink(sink: AuditSink, metrics: BrokerMetrics): AuditSink {
  return {
    record(event: AuditEvent) {
      sink.record(event);
      switch (event.event) {
        case "token_exchange":
          metrics.exchanges.inc({
            outcome: event.decision,
            reason: event.error ?? "ok",
            policy: event.policy ?? "none",
            token_type: event.requestedTokenType ?? "unknown",
          });
          break;
        case "svid_issuance":
          metrics.svids.inc({ outcome: event.decision, reason: event.error ?? "ok" });
          break;
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

/**
 * A RevocationStore that times every call and counts outages, telling `onUnavailable` of each
 * (readiness); behaviour is unchanged.
 */
export class TimedRevocationStore implements RevocationStore {
  readonly kind: RevocationStore["kind"];

  constructor(
    private readonly store: RevocationStore,
    private readonly metrics: BrokerMetrics,
    private readonly onUnavailable: () => void = () => undefined,
  ) {
    this.kind = store.kind;
  }

  tokenStatus(...args: Parameters<RevocationStore["tokenStatus"]>) {
    return this.time("tokenStatus", () => this.store.tokenStatus(...args));
  }
  tokenRevocation(...args: Parameters<RevocationStore["tokenRevocation"]>) {
    return this.time("tokenStatus", () => this.store.tokenRevocation(...args));
  }
  activeBlock(...args: Parameters<RevocationStore["activeBlock"]>) {
    return this.time("activeBlock", () => this.store.activeBlock(...args));
  }
  workloadRevocation(...args: Parameters<RevocationStore["workloadRevocation"]>) {
    return this.time("workloadRevocation", () => this.store.workloadRevocation(...args));
  }
  claimOnce(...args: Parameters<RevocationStore["claimOnce"]>) {
    return this.time("claimOnce", () => this.store.claimOnce(...args));
  }
  revokeToken(...args: Parameters<RevocationStore["revokeToken"]>) {
    return this.time("revokeToken", () => this.store.revokeToken(...args));
  }
  revokeWorkload(...args: Parameters<RevocationStore["revokeWorkload"]>) {
    return this.time("revokeWorkload", () => this.store.revokeWorkload(...args));
  }
  blockWorkload(...args: Parameters<RevocationStore["blockWorkload"]>) {
    return this.time("blockWorkload", () => this.store.blockWorkload(...args));
  }
  unblockWorkload(...args: Parameters<RevocationStore["unblockWorkload"]>) {
    return this.time("unblockWorkload", () => this.store.unblockWorkload(...args));
  }
  recordSvid(...args: Parameters<RevocationStore["recordSvid"]>) {
    return this.time("recordSvid", () => this.store.recordSvid(...args));
  }
  revokeSvid(...args: Parameters<RevocationStore["revokeSvid"]>) {
    return this.time("revokeSvid", () => this.store.revokeSvid(...args));
  }
  revokedSvids() {
    return this.time("revokedSvids", () => this.store.revokedSvids());
  }
  list() {
    return this.time("list", () => this.store.list());
  }
  listPage(...args: Parameters<RevocationStore["listPage"]>) {
    return this.time("listPage", () => this.store.listPage(...args));
  }
  ping() {
    return this.time("ping", () => this.store.ping());
  }
  close() {
    return this.store.close();
  }

  private async time<T>(operation: string, call: () => Promise<T>): Promise<T> {
    const stop = this.metrics.storeDuration.startTimer({ operation });
    try {
      const result = await call();
      this.metrics.storeOperations.inc({ operation, outcome: "ok" });
      return result;
    } catch (error) {
      const unavailable = error instanceof StoreUnavailableError;
      this.metrics.storeOperations.inc({ operation, outcome: unavailable ? "unavailable" : "error" });
      if (unavailable) this.onUnavailable();
      throw error;
    } finally {
      stop();
    }
  }
}
