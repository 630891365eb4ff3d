/**
 * Policy hot reload: a file change takes effect without a restart (BROKER_WATCH_POLICIES=true;
 * the broker in-process, watching its folder), a broken edit keeps the previous set and says why,
 * and SIGHUP reloads when watching is off (a real broker process, to receive the signal).
 * Deadlines, never fixed sleeps.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, OIDC_SUBJECT, startBrokerFixture, type BrokerFixture, type BrokerUnderTest } from "../support/broker-fixture.js";
import { startInProcessBroker, type InProcessBroker } from "../support/in-process-broker.js";

/** A policy for the oidc issuer whose granted scope we change between steps. */
const reloadPolicy = (scope: string) => ({
  id: "e2e-reload",
  issuer: "oidc",
  condition: 'identity.subject == "reload-workload"',
  grant: { workload_id: "reload/workload", audiences: ["https://reload.example.com"], scopes: [scope], max_lifetime: "5m" },
});

/** The fixtures a gated broker (BROKER_POLICY_FIXTURES=required) needs beside reloadPolicy: an allow and a deny. */
const reloadFixtures = (scope: string) => ({
  policy_tests: [
    { name: "reload workload", now: "2030-01-01T00:00:00Z", identity: reloadIdentity("reload-workload"), request: { audiences: ["https://reload.example.com"], scopes: [scope] }, expect: { allow: true, policy: "e2e-reload" } },
    { name: "another subject", now: "2030-01-01T00:00:00Z", identity: reloadIdentity("someone-else"), request: { audiences: ["https://reload.example.com"] }, expect: { allow: false } },
  ],
});

function reloadIdentity(subject: string) {
  return { issuer: "oidc", profile: "oidc", iss: "https://oidc.test", subject };
}

/** Exchanges a fresh token of `subject` and returns the status and error (or scope). */
async function attempt(fx: BrokerUnderTest, subject: string, scope: string): Promise<{ status: number; error: unknown; scope: unknown }> {
  const token = await fx.issuers.oidc.mint({ sub: subject });
  const res = await fx.exchange({ ...fx.form(token), audience: "https://reload.example.com", scope });
  return { status: res.status, error: res.json.error, scope: res.json.scope };
}

describe("with BROKER_WATCH_POLICIES=true", () => {
  let fx: InProcessBroker;
  beforeAll(async () => {
    fx = await startInProcessBroker({ env: { BROKER_WATCH_POLICIES: "true" }, policies: { "reload.policy.yaml": reloadPolicy("v1:read") } });
  });
  afterAll(async () => {
    await fx?.close();
  });

  it("a changed policy file takes effect without a restart", async () => {
    expect(await attempt(fx, "reload-workload", "v1:read")).toMatchObject({ status: 200, scope: "v1:read" });
    expect(await attempt(fx, "reload-workload", "v2:read")).toMatchObject({ status: 400, error: "invalid_scope" });

    await fx.writePolicy("reload.policy.yaml", reloadPolicy("v2:read"));
    await eventually(async () => (await attempt(fx, "reload-workload", "v2:read")).status === 200, 10_000, "the v2 grant");
    expect(await attempt(fx, "reload-workload", "v1:read")).toMatchObject({ status: 400, error: "invalid_scope" });
    expect(fx.broker.output.some((line) => line.includes('"msg":"policies reloaded"'))).toBe(true);
  });

  it("a broken policy keeps the previous set in force and a log line says why", async () => {
    const failuresBefore = fx.broker.output.filter((line) => line.includes("policy reload failed")).length;
    await fx.writePolicy("broken.policy.yaml", "id: broken\nissuer: oidc\ncondition: 'identity.subject ==' \ngrant: { audiences: [] }\n");
    await eventually(
      () => fx.broker.output.filter((line) => line.includes("policy reload failed")).length > failuresBefore,
      10_000,
      "a reload failure log line",
    );
    const failure = fx.broker
      .logRecords()
      .filter((record) => record.msg === "policy reload failed; keeping the previous set")
      .at(-1);
    expect(failure).toBeDefined();
    const errors = failure?.errors;
    expect(Array.isArray(errors) && errors.length > 0).toBe(true);
    expect(JSON.stringify(errors)).toContain("broken.policy.yaml");

    // The set before the broken edit still decides, including the other policies.
    expect(await attempt(fx, "reload-workload", "v2:read")).toMatchObject({ status: 200, scope: "v2:read" });
    const other = await fx.exchange({ ...fx.form(await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT })), audience: "https://a.example.com" });
    expect(other.status).toBe(200);
  });
});

describe("with watching off, SIGHUP reloads", () => {
  let fx: BrokerFixture;
  beforeAll(async () => {
    fx = await startBrokerFixture({ env: { BROKER_WATCH_POLICIES: "false" } });
  });
  afterAll(async () => {
    await fx?.close();
  });

  it("a new policy file is ignored until SIGHUP, then takes effect", async () => {
    expect(await attempt(fx, "reload-workload", "v1:read")).toMatchObject({ status: 400, error: "unauthorized_client" });
    await fx.writePolicy("reload.policy.yaml", reloadPolicy("v1:read"));
    await fx.writePolicy("reload.test.yaml", reloadFixtures("v1:read"));
    // Without a watcher nothing changes; no waiting is needed to see that it did not reload yet.
    expect(await attempt(fx, "reload-workload", "v1:read")).toMatchObject({ status: 400, error: "unauthorized_client" });

    fx.broker.signal("SIGHUP");
    await eventually(async () => (await attempt(fx, "reload-workload", "v1:read")).status === 200, 10_000, "the SIGHUP reload");
    expect(fx.broker.output.some((line) => line.includes('"msg":"policies reloaded"'))).toBe(true);
  });
});
