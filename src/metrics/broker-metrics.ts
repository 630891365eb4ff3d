import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

/**
 * Every metric the broker exports (Prometheus text format at GET /metrics). Label values come
 * only from closed sets (error codes, route patterns, configured policy ids and issuer hosts):
 * never a workload id, token, serial or client address, so cardinality stays bounded.
 */
export class BrokerMetrics {
  readonly registry = new Registry();

  readonly exchanges = this.counter("broker_token_exchanges_total", "Token exchange decisions, by outcome, RFC 6749 error code (reason) and matched policy.", ["outcome", "reason", "policy", "token_type"] as const);

  readonly svids = this.counter("broker_x509_svids_total", "X.509-SVID requests, by outcome and error code (reason).", ["outcome", "reason"] as const);

  readonly adminActions = this.counter("broker_admin_actions_total", "Admin API and holder-revocation calls, by action and outcome.", ["action", "outcome"] as const);

  readonly httpDuration = this.histogram("broker_http_request_duration_seconds", "Request latency by route pattern, method and status class.", ["route", "method", "status"] as const, [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]);

  readonly jwksFetches = this.counter("broker_issuer_key_fetches_total", "Fetches of issuer discovery documents and JWKS, by host and outcome.", ["host", "outcome"] as const);

  readonly issuerKeysRefused = this.counter("broker_issuer_keys_refused_total", "Keys published by an issuer that cannot be imported (an EC point off its curve, ...) and were dropped, by issuer id.", ["issuer"] as const);

  readonly verifiedTokenCache = this.counter("broker_verified_token_cache_lookups_total", "Lookups of external tokens in the verified-token cache, by result (hit, miss).", ["result"] as const);

  readonly storeOperations = this.counter("broker_revocation_store_operations_total", "Revocation store calls, by operation and outcome (ok, unavailable).", ["operation", "outcome"] as const);

  readonly rateLimited = this.counter("broker_rate_limited_total", "Requests refused with 429 by a rate limit, by limit (client address or workload).", ["limit"] as const);

  readonly shed = this.counter("broker_load_shed_total", "Requests refused with 503 because the bounded work queue was full, by work (token, x509_svid).", ["work"] as const);

  readonly storeDuration = this.histogram("broker_revocation_store_duration_seconds", "Revocation store call latency by operation.", ["operation"] as const, [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1]);

  readonly inventoryWrites = this.counter("broker_inventory_writes_total", "Workload inventory writes after an issuance, by outcome (ok; failed: store down or slow; dropped: too many in flight). Issuance never waits for them.", ["outcome"] as const);

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

  /** A counter in this registry; its labels come from closed sets only (see above). */
  private counter<Label extends string>(name: string, help: string, labelNames: readonly Label[]): Counter<Label> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  private histogram<Label extends string>(name: string, help: string, labelNames: readonly Label[], buckets: number[]): Histogram<Label> {
    return new Histogram({ name, help, labelNames, buckets, registers: [this.registry] });
  }

  /** The Prometheus text exposition and its content type. */
  async scrape(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
