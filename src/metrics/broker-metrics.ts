import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { MetricsSnapshot, Scrape } from "./aggregate-scrapes.js";

/** Which build is running: `broker_build_info`'s labels. */
export interface BuildInfo {
  readonly version: string;
}

/** How GET /metrics is answered when this process is one of several workers: the whole group's scrape. */
export interface ScrapeOptions {
  /** The process group's merged exposition (a cluster worker asks its primary); undefined: this registry's. */
  readonly groupScrape?: () => Promise<Scrape>;
}

/**
 * Every metric the broker exports (Prometheus text format at GET /metrics). Label values come
 * only from closed sets (error codes, route patterns, configured policy ids and issuer hosts, the
 * version of the policy set in force: one series at a time):
 * never a workload id, token, serial or client address, so cardinality stays bounded.
 *
 * With several workers (BROKER_WORKERS) a scrape merges every worker's registry with prom-client's
 * aggregation: counters and histograms are summed (the default); each gauge below says how it
 * merges (`aggregator`): a value every worker reads from the same store or files is `max` or
 * `min` (the most alarming one), never a sum that would count it once per worker.
 */
export class BrokerMetrics {
  readonly registry = new Registry();

  readonly exchanges = this.counter(
    "broker_token_exchanges_total",
    "Token exchange decisions, by outcome, RFC 6749 error code (reason), matched policy, requested token type and subject token issuer (a configured issuer id, broker for a broker token, none when no issuer was established).",
    ["outcome", "reason", "policy", "token_type", "issuer"] as const,
  );

  readonly issuedLifetime = this.histogram(
    "broker_issued_credential_lifetime_seconds",
    "Lifetime of each credential issued, by credential type (access_token, jwt, x509_svid): the share under 15 min is the le=\"900\" bucket over the count.",
    ["credential"] as const,
    [60, 300, 600, 900, 1800, 3600, 7200, 86_400],
  );

  readonly timeToRevoke = this.histogram(
    "broker_time_to_revoke_seconds",
    "Seconds from a revocation or block being recorded (the revoker's clock) to the first refusal it caused on this replica, by cause (jti, workload, family, actor_workload, block).",
    ["cause"] as const,
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300],
  );

  readonly svids = this.counter("broker_x509_svids_total", "X.509-SVID requests, by outcome and error code (reason).", ["outcome", "reason"] as const);

  readonly adminActions = this.counter("broker_admin_actions_total", "Admin API and holder-revocation calls, by action and outcome.", ["action", "outcome"] as const);

  readonly httpDuration = this.histogram("broker_http_request_duration_seconds", "Request latency by route pattern, method and status class.", ["route", "method", "status"] as const, [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]);

  readonly jwksFetches = this.counter("broker_issuer_key_fetches_total", "Fetches of issuer discovery documents and JWKS, by host and outcome.", ["host", "outcome"] as const);

  readonly issuerKeysRefused = this.counter("broker_issuer_keys_refused_total", "Keys published by an issuer that cannot be imported (an EC point off its curve, ...) and were dropped, by issuer id.", ["issuer"] as const);

  readonly verifiedTokenCache = this.counter("broker_verified_token_cache_lookups_total", "Lookups of external tokens in the verified-token cache, by result (hit, miss).", ["result"] as const);

  readonly verifiedTokenCacheAdmissions = this.counter(
    "broker_verified_token_cache_admissions_total",
    "External tokens taken into the verified-token cache: on their second successful verification while the doorkeeper still remembered the first. Misses minus admissions are verifications of tokens seen once.",
    [] as const,
  );

  readonly storeOperations = this.counter("broker_revocation_store_operations_total", "Revocation store calls, by operation and outcome (ok, unavailable).", ["operation", "outcome"] as const);

  readonly rateLimited = this.counter("broker_rate_limited_total", "Requests refused with 429 by a rate limit, by limit (client address or workload).", ["limit"] as const);

  readonly shed = this.counter("broker_load_shed_total", "Requests refused with 503 because the bounded work queue was full, by work (token, x509_svid).", ["work"] as const);

  readonly policyReloads = this.counter("broker_policy_reloads_total", "Policy reloads (file change, periodic check, SIGHUP), by outcome: applied (a new set in force), unchanged, failed (invalid, or refused by its fixtures: the previous set stays).", ["outcome"] as const);

  /** One series at a time: the version of the policy set in force (value 1). */
  readonly policySetInfo = new Gauge({ name: "broker_policy_set_info", help: "The policy set in force, by version (sha256 of its files); always 1.", labelNames: ["version"] as const, registers: [this.registry], aggregator: "max" });

  readonly policySetLoaded = new Gauge({ name: "broker_policy_set_loaded_timestamp_seconds", help: "When the policy set in force was put in force (Unix seconds).", registers: [this.registry], aggregator: "max" });

  readonly storeDuration = this.histogram("broker_revocation_store_duration_seconds", "Revocation store call latency by operation.", ["operation"] as const, [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1]);

  readonly pkcs11Calls = this.counter("broker_pkcs11_calls_total", "PKCS#11 token calls (BROKER_SIGNING_KEYS=pkcs11), by call (sign, findKey, ping, ...) and outcome (ok; failed: the token answered an error; timeout: no answer within BROKER_PKCS11_TIMEOUT_MS; refused: the queue was full or the worker stopped).", ["call", "outcome"] as const);
  readonly pkcs11Duration = this.histogram("broker_pkcs11_call_duration_seconds", "PKCS#11 token call latency from submission (queue wait included), by call; answered calls only.", ["call"] as const, [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 2.5]);
  readonly inventoryWrites = this.counter("broker_inventory_writes_total", "Workload inventory writes after an issuance, by outcome (ok; failed: store down or slow; dropped: too many in flight). Issuance never waits for them.", ["outcome"] as const);

  private readonly groupScrape: (() => Promise<Scrape>) | undefined;

  constructor(build: BuildInfo = { version: "unknown" }, options: ScrapeOptions = {}) {
    this.groupScrape = options.groupScrape;
    collectDefaultMetrics({ register: this.registry, prefix: "broker_" });
    new Gauge({
      name: "broker_build_info",
      help: "Always 1; the labels say which build runs (package version, Node.js version).",
      labelNames: ["version", "node_version"] as const,
      registers: [this.registry],
      aggregator: "first",
    }).set({ version: build.version, node_version: process.versions.node }, 1);
  }

  /** Gauges read at scrape time: revocations/blocks in force and the signing key's age. */
  addScrapeGauges(sources: {
    readonly inForce: () => Promise<{ tokens: number; workloads: number; svids: number; blocks: number }>;
    readonly signingKeyAgeSeconds: () => number | undefined;
    /** Epoch seconds of the X.509-SVID CA's earliest notAfter; undefined: no CA. */
    /** Every published X.509-SVID CA with its chain's earliest notAfter (epoch seconds). */
    readonly caNotAfter?: () => readonly { readonly ca: string; readonly state: string; readonly notAfter: number }[];
    /** Age of each remote issuer key set (seconds since its last good fetch; undefined: never fetched). */
    readonly issuerKeyAges?: () => readonly { readonly issuer: string; readonly ageSeconds: number | undefined }[];
  }): void {
    new Gauge({
      name: "broker_revocations_in_force",
      help: "Revocation entries and blocks in force, by kind (read from the store at most every 15 s).",
      labelNames: ["kind"] as const,
      registers: [this.registry],
      // Every worker lists the same store.
      aggregator: "max",
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
      // The oldest key any worker still signs with (one that has not followed a rotation yet).
      aggregator: "max",
      collect() {
        const age = sources.signingKeyAgeSeconds();
        if (age === undefined) this.reset();
        else this.set(age);
      },
    });
    this.addTrustGauges(sources);
  }

  private addTrustGauges(sources: Parameters<BrokerMetrics["addScrapeGauges"]>[0]): void {
    const { caNotAfter, issuerKeyAges } = sources;
    if (caNotAfter !== undefined) {
      new Gauge({
        name: "broker_x509_ca_not_after_timestamp_seconds",
        help: "When each published X.509-SVID CA (its chain's earliest notAfter) expires, epoch seconds, by CA name and state (active, next, previous): alert well before the active one's, no SVID outlives it.",
        labelNames: ["ca", "state"] as const,
        registers: [this.registry],
        // The earliest expiry any worker holds.
        aggregator: "min",
        collect() {
          this.reset();
          for (const { ca, state, notAfter } of caNotAfter()) this.set({ ca, state }, notAfter);
        },
      });
    }
    if (issuerKeyAges !== undefined) {
      new Gauge({
        name: "broker_issuer_keys_age_seconds",
        help: "Seconds since each remote issuer's keys were last fetched successfully (by issuer id; absent before the first good fetch and for key files). Past the JWKS stale limit its tokens are refused.",
        labelNames: ["issuer"] as const,
        registers: [this.registry],
        // The stalest key set any worker verifies with.
        aggregator: "max",
        collect() {
          this.reset();
          for (const { issuer, ageSeconds } of issuerKeyAges()) if (ageSeconds !== undefined) this.set({ issuer }, ageSeconds);
        },
      });
    }
  }

  /** Records the policy set now in force: its version replaces the previous one, never adds to it. */
  policySetInForce(version: string, sinceSeconds: number): void {
    this.policySetInfo.reset();
    this.policySetInfo.set({ version }, 1);
    this.policySetLoaded.set(sinceSeconds);
  }

  /** A counter in this registry; its labels come from closed sets only (see above). */
  private counter<Label extends string>(name: string, help: string, labelNames: readonly Label[]): Counter<Label> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  private histogram<Label extends string>(name: string, help: string, labelNames: readonly Label[], buckets: number[]): Histogram<Label> {
    return new Histogram({ name, help, labelNames, buckets, registers: [this.registry] });
  }

  /** The Prometheus text exposition and its content type: this process's, or its worker group's. */
  async scrape(): Promise<Scrape> {
    if (this.groupScrape !== undefined) return this.groupScrape();
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }

  /** This process's metrics as values, for the primary to merge with the other workers' (aggregate-scrapes.ts). */
  snapshot(): Promise<MetricsSnapshot> {
    return this.registry.getMetricsAsJSON();
  }
}
