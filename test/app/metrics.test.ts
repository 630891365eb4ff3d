/**
 * GET /metrics through the whole broker in-process (buildBroker, app.request()): Prometheus text format, decisions counted by
 * outcome/reason/policy, latency per route pattern, store timings, and no unbounded or secret
 * label values (no workload ids, tokens or addresses).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GRANTS, startInProcessBroker, type InProcessBroker } from "../support/in-process-broker.js";
import { githubActionsClaims } from "../support/test-issuer.js";

let fx: InProcessBroker;

beforeAll(async () => {
  fx = await startInProcessBroker();
});
afterAll(async () => {
  await fx?.close();
});

/** The value of one sample line, e.g. `name{a="b"} 3`, or undefined when absent. */
function sample(text: string, name: string, labels: Readonly<Record<string, string>>): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const labelText = line.slice(name.length + 1, line.lastIndexOf("}"));
    if (Object.entries(labels).every(([key, value]) => labelText.includes(`${key}="${value}"`))) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return undefined;
}

describe("GET /metrics", () => {
  it("counts decisions by outcome, reason and policy, and times requests by route pattern", async () => {
    const token = await fx.issuers.github.mint(githubActionsClaims(), { alg: "RS256" });
    const allowed = await fx.exchange({ ...fx.form(token), audience: GRANTS.github.audiences[0], scope: "deploy:read" });
    expect(allowed.status).toBe(200);
    const refused = await fx.exchange({ ...fx.form(token), audience: "https://not-granted.example.com" });
    expect(refused.json.error).toBe("invalid_target");
    const garbage = await fx.exchange(fx.form("not-a-jwt"));
    expect(garbage.json.error).toBe("invalid_request");

    const res = await fx.fetch(`${fx.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();

    expect(sample(text, "broker_token_exchanges_total", { outcome: "allow", reason: "ok" })).toBe(1);
    expect(sample(text, "broker_token_exchanges_total", { outcome: "deny", reason: "invalid_target" })).toBe(1);
    expect(sample(text, "broker_token_exchanges_total", { outcome: "deny", reason: "invalid_request", policy: "none" })).toBe(1);
    expect(sample(text, "broker_http_request_duration_seconds_count", { route: "/token", method: "POST", status: "2xx" })).toBe(1);
    expect(sample(text, "broker_http_request_duration_seconds_count", { route: "/token", method: "POST", status: "4xx" })).toBe(2);
    expect(sample(text, "broker_revocation_store_operations_total", { operation: "activeBlock", outcome: "ok" })).toBe(1);
    expect(sample(text, "broker_issuer_key_fetches_total", { outcome: "ok" })).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^broker_revocations_in_force\{kind="blocks"\} 0$/m);
    expect(text).toMatch(/^broker_signing_key_age_seconds \d+$/m);
    expect(text).toMatch(/^broker_process_resident_memory_bytes \d+/m);

    // Bounded, non-secret labels only.
    expect(text).not.toContain(GRANTS.github.workloadId);
    expect(text).not.toContain(token.slice(0, 20));
    // Addresses appear only as the configured issuers' hosts, never as a client's.
    for (const line of text.split("\n").filter((l) => l.includes("127.0.0.1"))) expect(line).toMatch(/^broker_issuer_key_fetches_total\{host="127\.0\.0\.1:\d+"/);
  });

  it("labels unknown paths as unmatched, never by their raw path", async () => {
    await fx.fetch(`${fx.url}/no/such/path-with-an-id-123`);
    const text = await (await fx.fetch(`${fx.url}/metrics`)).text();
    expect(sample(text, "broker_http_request_duration_seconds_count", { route: "unmatched", status: "4xx" })).toBeGreaterThanOrEqual(1);
    expect(text).not.toContain("path-with-an-id-123");
  });
});
