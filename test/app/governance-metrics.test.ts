/**
 * The metrics an operator reads weak controls from (issue 15), through the whole broker in-process:
 * outcomes per issuer (a closed label set), the share of short-lived credentials, time to revoke
 * (from an admin revocation or block to the first refusal it caused), build info, issuer key
 * staleness and CA expiry.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GRANTS, startInProcessBroker, TOKEN_TYPES, type InProcessBroker } from "../support/in-process-broker.js";
import { githubActionsClaims, kubernetesClaims } from "../support/test-issuer.js";

const ADMIN_SECRET = "governance-metrics-admin-secret-0123456789abcdef";
let fx: InProcessBroker;

beforeAll(async () => {
  fx = await startInProcessBroker({ env: { BROKER_ADMIN_SECRET: ADMIN_SECRET } });
}, 60_000);
afterAll(async () => {
  await fx?.close();
});

/** Every sample of `name` whose labels include `labels`, summed; undefined when none. */
function sample(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
  let total: number | undefined;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelText = line.includes("{") ? line.slice(line.indexOf("{") + 1, line.lastIndexOf("}")) : "";
    if (Object.entries(labels).every(([key, value]) => labelText.includes(`${key}="${value}"`))) total = (total ?? 0) + Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}

const scrape = async (): Promise<string> => (await fx.fetch(`${fx.url}/metrics`)).text();
const admin = (path: string, body: unknown) =>
  fx.request(path, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_SECRET}` }, body: JSON.stringify(body) });

async function brokerToken(lifetime: number): Promise<string> {
  const subject = await fx.issuers.github.mint(githubActionsClaims(), { alg: "RS256" });
  const res = await fx.exchange({ ...fx.form(subject), audience: GRANTS.github.audiences[0], scope: "deploy:read", requested_lifetime: String(lifetime) });
  expect(res.status).toBe(200);
  return String(res.json.access_token);
}

describe("governance metrics", () => {
  it("labels outcomes by configured issuer id, the broker for its own tokens, and none for anything else", async () => {
    const before = await scrape();
    const issued = await brokerToken(300);
    const again = await fx.exchange({ ...fx.form(issued, TOKEN_TYPES.accessToken), audience: GRANTS.github.audiences[0] });
    expect(again.status).toBe(200);
    const stranger = await fx.issuers.github.mint({ ...githubActionsClaims(), iss: "https://attacker.example/label-me" }, { alg: "RS256" });
    expect((await fx.exchange(fx.form(stranger))).status).toBe(400);

    const text = await scrape();
    const delta = (labels: Record<string, string>) => (sample(text, "broker_token_exchanges_total", labels) ?? 0) - (sample(before, "broker_token_exchanges_total", labels) ?? 0);
    expect(delta({ outcome: "allow", issuer: "github-actions" })).toBe(1);
    expect(delta({ outcome: "allow", issuer: "broker" })).toBe(1);
    expect(delta({ outcome: "deny", issuer: "none" })).toBe(1);
    expect(text).not.toContain("attacker.example");
  });

  it("observes each issued credential's lifetime, so the share under 15 minutes is one bucket over the count", async () => {
    const before = await scrape();
    await brokerToken(300);
    await brokerToken(600);
    const text = await scrape();
    const delta = (le: string) =>
      (sample(text, "broker_issued_credential_lifetime_seconds_bucket", { credential: "access_token", le }) ?? 0) -
      (sample(before, "broker_issued_credential_lifetime_seconds_bucket", { credential: "access_token", le }) ?? 0);
    expect(delta("60")).toBe(0);
    expect(delta("300")).toBe(1);
    expect(delta("900")).toBe(2);
  });

  it("times a workload revocation to the first refusal it causes on this replica, once", async () => {
    const token = await brokerToken(600);
    expect((await admin("/admin/revocations/workloads", { workload_id: GRANTS.github.workloadId, reason: "time-to-revoke test" })).status).toBe(201);
    for (let attempt = 0; attempt < 2; attempt++) {
      const refused = await fx.exchange({ ...fx.form(token, TOKEN_TYPES.accessToken), audience: GRANTS.github.audiences[0] });
      expect(refused.json.error).toBe("invalid_request");
    }
    const text = await scrape();
    expect(sample(text, "broker_time_to_revoke_seconds_count", { cause: "workload" })).toBe(1);
    const seconds = sample(text, "broker_time_to_revoke_seconds_sum", { cause: "workload" }) ?? -1;
    expect(seconds).toBeGreaterThanOrEqual(0);
    expect(seconds).toBeLessThan(30);
  });

  it("times a block to the first issuance it refuses", async () => {
    const blocked = await admin("/admin/revocations/workloads", { workload_id: GRANTS.kubernetes.workloadId, reason: "block test", block: true });
    expect(blocked.status).toBe(201);
    const subject = await fx.issuers.kubernetes.mint(kubernetesClaims());
    const refused = await fx.exchange({ ...fx.form(subject), audience: GRANTS.kubernetes.audiences[0] });
    expect(refused.json.error).toBe("unauthorized_client");
    expect(sample(await scrape(), "broker_time_to_revoke_seconds_count", { cause: "block" })).toBe(1);
  });

  it("exports build info, each remote issuer's key age and the CA's expiry", async () => {
    const text = await scrape();
    expect(text).toMatch(new RegExp(`^broker_build_info\\{version="\\d+\\.\\d+\\.\\d+[^"]*",node_version="${process.versions.node.replaceAll(".", "\\.")}"\\} 1$`, "m"));
    const keyAge = sample(text, "broker_issuer_keys_age_seconds", { issuer: "github-actions" });
    expect(keyAge).toBeGreaterThanOrEqual(0);
    expect(keyAge).toBeLessThan(120);
    // A key file has no fetch age: spiffe's keys come from jwks_file.
    expect(sample(text, "broker_issuer_keys_age_seconds", { issuer: "spiffe" })).toBeUndefined();
    // One series per published CA: a single CA (the development root here) is "ca", active.
    const notAfter = sample(text, "broker_x509_ca_not_after_timestamp_seconds", { ca: "ca", state: "active" });
    expect(notAfter).toBeGreaterThan(Date.now() / 1000);
  });
});
