import { describe, expect, it } from "vitest";
import { aggregateScrapes } from "../../src/metrics/aggregate-scrapes.js";
import { BrokerMetrics } from "../../src/metrics/broker-metrics.js";

/** The value of one exposition line, by its exact series text. */
function value(exposition: string, series: string): number | undefined {
  const line = exposition.split("\n").find((each) => each.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Two workers' registries, each with its own counts and the same view of shared state. */
function twoWorkers(): [BrokerMetrics, BrokerMetrics] {
  const workers: [BrokerMetrics, BrokerMetrics] = [new BrokerMetrics({ version: "1.2.3" }), new BrokerMetrics({ version: "1.2.3" })];
  workers.forEach((metrics, index) => {
    metrics.addScrapeGauges({
      inForce: async () => ({ tokens: 7, workloads: 1, svids: 0, blocks: 0 }),
      // Worker 1 has not followed a rotation yet: its key is older.
      signingKeyAgeSeconds: () => (index === 0 ? 100 : 4_000),
      caNotAfter: () => [{ ca: "root", state: "active", notAfter: index === 0 ? 2_000_000_000 : 1_900_000_000 }],
      issuerKeyAges: () => [{ issuer: "github", ageSeconds: index === 0 ? 30 : 600 }],
    });
    metrics.policySetInForce("v1", 1_700_000_000 + index);
  });
  return workers;
}

describe("aggregateScrapes: one exposition for a group of workers", () => {
  it("sums counters and merges histograms bucket by bucket", async () => {
    const [one, two] = twoWorkers();
    one.exchanges.inc({ outcome: "issued", reason: "", policy: "p", token_type: "access_token", issuer: "github" }, 3);
    two.exchanges.inc({ outcome: "issued", reason: "", policy: "p", token_type: "access_token", issuer: "github" }, 2);
    two.exchanges.inc({ outcome: "denied", reason: "invalid_grant", policy: "", token_type: "access_token", issuer: "github" });
    one.issuedLifetime.observe({ credential: "access_token" }, 120);
    two.issuedLifetime.observe({ credential: "access_token" }, 120);
    two.issuedLifetime.observe({ credential: "access_token" }, 5_000);
    const { body, contentType } = await aggregateScrapes([await one.snapshot(), await two.snapshot()]);
    expect(contentType).toContain("text/plain");
    expect(value(body, 'broker_token_exchanges_total{outcome="issued",reason="",policy="p",token_type="access_token",issuer="github"}')).toBe(5);
    expect(value(body, 'broker_token_exchanges_total{outcome="denied",reason="invalid_grant",policy="",token_type="access_token",issuer="github"}')).toBe(1);
    expect(value(body, 'broker_issued_credential_lifetime_seconds_bucket{le="300",credential="access_token"}')).toBe(2);
    expect(value(body, 'broker_issued_credential_lifetime_seconds_bucket{le="7200",credential="access_token"}')).toBe(3);
    expect(value(body, 'broker_issued_credential_lifetime_seconds_count{credential="access_token"}')).toBe(3);
    expect(value(body, 'broker_issued_credential_lifetime_seconds_sum{credential="access_token"}')).toBe(5_240);
  });

  it("merges each gauge by its aggregator: shared state once, the most alarming value of the workers", async () => {
    const [one, two] = twoWorkers();
    const { body } = await aggregateScrapes([await one.snapshot(), await two.snapshot()]);
    expect(value(body, `broker_build_info{version="1.2.3",node_version="${process.versions.node}"}`)).toBe(1);
    expect(value(body, 'broker_policy_set_info{version="v1"}')).toBe(1);
    expect(value(body, "broker_policy_set_loaded_timestamp_seconds")).toBe(1_700_000_001);
    expect(value(body, 'broker_revocations_in_force{kind="tokens"}')).toBe(7);
    expect(value(body, "broker_signing_key_age_seconds")).toBe(4_000);
    expect(value(body, 'broker_x509_ca_not_after_timestamp_seconds{ca="root",state="active"}')).toBe(1_900_000_000);
    expect(value(body, 'broker_issuer_keys_age_seconds{issuer="github"}')).toBe(600);
    // Process resources are the group's: summed (prom-client's own defaults for its process metrics).
    const alone = value(await one.scrape().then((scrape) => scrape.body), "broker_process_resident_memory_bytes");
    if (alone !== undefined) expect(value(body, "broker_process_resident_memory_bytes")).toBeGreaterThan(alone);
  });

  it("a worker's scrape goes to the group when it has one", async () => {
    const metrics = new BrokerMetrics({ version: "x" }, { groupScrape: async () => ({ body: "group\n", contentType: "text/plain" }) });
    expect(await metrics.scrape()).toEqual({ body: "group\n", contentType: "text/plain" });
  });
});
