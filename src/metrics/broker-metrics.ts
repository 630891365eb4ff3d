import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

/**
 * Every metric the broker exports (Prometheus text format at GET /metrics). Label values come
 * only from closed sets (error codes, route patterns, configured policy ids and issuer hosts):
 * never a workload id, token, serial or client address, so cardinality stays bounded.
 */
export class BrokerMetrics {
  readonly registry = new Registry();

  readonly exchanges = new Counter({
    name: "broker_token_exchanges_total",
    help: "Token exchange decisions, by outcome, RFC 6749 error code (reason) and matched policy.",
    labelNames: ["outcome", "reason", "policy", "token_type"] as const,
    registers: [this.registry],
  });

  readonly svids = new Counter({
    name: "broker_x509_svids_total",
    help: "X.509-SVID requests, by outcome and error code (reason).",
    labelNames: ["outcome", "reason"] as const,
    registers: [this.registry],
  });

  readonly adminActions = new Counter({
    name: "broker_admin_actions_total",
    help: "Admin API and holder-revocation calls, by action and outcome.",
    labelNames: ["action", "outcome"] as const,
    registers: [this.registry],
  });

  readonly httpDuration = new Histogram({
    name: "broker_http_request_duration_seconds",
    help: "Request latency by route pattern, method and status class.",
    labelNames: ["route", "method", "status"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  readonly jwksFetches = new Counter({
    name: "broker_issuer_key_fetches_total",
    help: "Fetches of issuer discovery documents and JWKS, by host and outcome.",
    labelNames: ["host", "outcome"] as const,
    registers: [this.registry],
  });

  readonly issuerKeysRefused = new Counter({
    name: "broker_issuer_keys_refused_total",
    help: "Keys published by an issuer that cannot be imported (an EC point off its curve, ...) and were dropped, by issuer id.",
    labelNames: ["issuer"] as const,
    registers: [this.registry],
  });

  readonly verifiedTokenCache = new Counter({
    name: "broker_verified_token_cache_lookups_total",
    help: "Lookups of external tokens in the verified-token cache, by result (hit, miss).",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });

  readonly storeOperations = new Counter({
    name: "broker_revocation_store_operations_total",
    help: "Revocation store calls, by operation and outcome (ok, unavailable).",
    labelNames: ["operation", "outcome"] as const,
    registers: [this.registry],
  });

  readonly rateLimited = new Counter({
    name: "broker_rate_limited_total",
    help: "Requests refused with 429 by a rate limit, by limit (client address or workload).",
    labelNames: ["limit"] as const,
    registers: [this.registry],
  });

  readonly shed = new Counter({
    name: "broker_load_shed_total",
    help: "Requests refused with 503 because the bounded work queue was full, by work (token, x509_svid).",
    labelNames: ["work"] as const,
    registers: [this.registry],
  });

  readonly storeDuration = new Histogram({
    name: "broker_revocation_store_duration_seconds",
    help: "Revocation store call latency by operation.",
    labelNames: ["operation"] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "broker_" });
  }

  /** Gauges read at scrape time: revocations/blocks in force and the signing key's age. */
  addScrapeGauges(sources: {
    readonly inForce: () => Promise<{ tokens: number; workloads: number; svids: number; blocks: number }>;
    readonly signingKeyAgeSeconds: () => number | undefined;
  }): void {
    new Gauge({
      name: "broker_revocations_in_force",
      help: "Revocation entries and blocks in force, by kind (read from the store at most every 15 s).",
      labelNames: ["kind"] as const,
      registers: [this.registry],
      async collect() {
        try {
          const counts = await sources.inForce();
          for (const [kind, value] of Object.entries(counts)) this.set({ kind }, value);
        } catch {
          // The store is down: report nothing rather than a stale or invented number.
          this.reset();
        }
      },
    });
    new Gauge({
      name: "broker_signing_key_age_seconds",
      help: "Seconds since the active signing key started signing (absent when keyset.json does not record it).",
      registers: [this.registry],
      collect() {
        const age = sources.signingKeyAgeSeconds();
        if (age === undefined) this.reset();
        else this.set(age);
      },
    });
  }

  /** The Prometheus text exposition and its content type. */
  async scrape(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
