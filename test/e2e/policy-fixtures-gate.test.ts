/**
 * The fixtures gate through a real broker process (BROKER_POLICY_FIXTURES=required, the default):
 * 1. a policy and its fixtures go in force on SIGHUP;
 * 2. an edit its fixtures refuse is not applied: the old grants stay, the log names the failing
 *    fixture, /metrics counts the failed reload and keeps the old version;
 * 3. the fixture updated to the new intent: the edit is applied;
 * and a start on a folder whose fixture fails is refused (exit 1), unless the gate is off.
 * Deadlines, never fixed sleeps.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, prepareBrokerFolder, startBrokerFixture, type BrokerFixture } from "../support/broker-fixture.js";
import { freePort, runBrokerUntilExit, startBroker } from "../support/broker-process.js";

const AUDIENCE = "https://gate.example.com";

const gatePolicy = (scope: string) => ({
  id: "e2e-gate",
  owner: "team-e2e",
  issuer: "oidc",
  condition: 'identity.subject == "gate-workload"',
  grant: { workload_id: "gate/workload", audiences: [AUDIENCE], scopes: [scope], max_lifetime: "5m" },
});

/** The fixtures the policy's author writes: `granted` is allowed, `refused` is not. */
const gateFixtures = (granted: string, refused: string) => ({
  policy_tests: [
    { name: `gate workload gets ${granted}`, now: "2030-01-01T00:00:00Z", identity: identity("gate-workload"), request: { audiences: [AUDIENCE], scopes: [granted] }, expect: { allow: true, policy: "e2e-gate" } },
    { name: `gate workload is refused ${refused}`, now: "2030-01-01T00:00:00Z", identity: identity("gate-workload"), request: { audiences: [AUDIENCE], scopes: [refused] }, expect: { allow: false, reason: "scope_not_granted" } },
  ],
});

function identity(subject: string) {
  return { issuer: "oidc", profile: "oidc", iss: "https://oidc.test", subject };
}

/** A counter or gauge sample of the broker's /metrics text, or undefined when absent. */
async function sample(fx: BrokerFixture, series: string): Promise<string | undefined> {
  const { text } = await fx.get("/metrics");
  return text.split("\n").find((line) => line.startsWith(series));
}

async function scopeStatus(fx: BrokerFixture, scope: string): Promise<number> {
  const token = await fx.issuers.oidc.mint({ sub: "gate-workload" });
  return (await fx.exchange({ ...fx.form(token), audience: AUDIENCE, scope })).status;
}

const failures = (fx: BrokerFixture) => fx.broker.logRecords().filter((record) => record.msg === "policy reload failed; keeping the previous set");

describe("a broker whose policy reloads are gated by their fixtures", () => {
  let fx: BrokerFixture;
  beforeAll(async () => {
    fx = await startBrokerFixture({ env: { BROKER_WATCH_POLICIES: "false" } });
  }, 30_000);
  afterAll(async () => {
    await fx?.close();
  });

  it("step 1: a policy with its fixtures goes in force on SIGHUP", async () => {
    expect(fx.broker.logRecords().find((record) => record.msg === "policies loaded")).toMatchObject({ fixtures: 10 });
    await fx.writePolicy("gate.policy.yaml", gatePolicy("v1:read"));
    await fx.writePolicy("gate.test.yaml", gateFixtures("v1:read", "v2:read"));
    fx.broker.signal("SIGHUP");
    await eventually(async () => (await scopeStatus(fx, "v1:read")) === 200, 10_000, "the v1 grant");
    expect(await sample(fx, 'broker_policy_reloads_total{outcome="applied"}')).toBe('broker_policy_reloads_total{outcome="applied"} 1');
  });

  it("step 2: an edit its fixtures refuse keeps the old set; the log names the fixture; /metrics counts the failure", async () => {
    const version = await sample(fx, "broker_policy_set_info");
    expect(version).toMatch(/^broker_policy_set_info\{version="[0-9a-f]{64}"\} 1$/);
    await fx.writePolicy("gate.policy.yaml", gatePolicy("v2:read"));
    fx.broker.signal("SIGHUP");
    await eventually(() => failures(fx).length === 1, 10_000, "a reload failure log line");
    expect(failures(fx)[0]).toMatchObject({
      level: 50,
      stage: "fixtures",
      errors: [
        'gate.test.yaml: fixture "gate workload gets v1:read" failed: expected allow, got deny scope_not_granted (e2e-gate: scope_not_granted: not granted: v1:read | e2e-oidc: condition_false: condition is false)',
        'gate.test.yaml: fixture "gate workload is refused v2:read" failed: expected deny, got allow by e2e-gate',
        // Its only allow fixture failed. (A deny it has: the base fixtures' "oidc other subject" case was evaluated by it too.)
        "gate.policy.yaml [e2e-gate]: no allow fixture",
      ],
    });
    // The set before the edit still decides.
    expect(await scopeStatus(fx, "v1:read")).toBe(200);
    expect(await scopeStatus(fx, "v2:read")).toBe(400);
    expect(await sample(fx, 'broker_policy_reloads_total{outcome="failed"}')).toBe('broker_policy_reloads_total{outcome="failed"} 1');
    expect(await sample(fx, "broker_policy_set_info")).toBe(version);
  });

  it("step 3: the fixture updated to the new intent, the edit is applied", async () => {
    await fx.writePolicy("gate.test.yaml", gateFixtures("v2:read", "v1:read"));
    fx.broker.signal("SIGHUP");
    await eventually(async () => (await scopeStatus(fx, "v2:read")) === 200, 10_000, "the v2 grant");
    expect(await scopeStatus(fx, "v1:read")).toBe(400);
    expect(await sample(fx, 'broker_policy_reloads_total{outcome="applied"}')).toBe('broker_policy_reloads_total{outcome="applied"} 2');
  });
});

describe("starting on a folder whose fixture fails", () => {
  it("is refused (exit 1, the failing fixture named); BROKER_POLICY_FIXTURES=off starts it with a warning", async () => {
    const folder = await prepareBrokerFolder("http://127.0.0.1:1");
    try {
      await folder.writePolicy("gate.policy.yaml", gatePolicy("v2:read"));
      await folder.writePolicy("gate.test.yaml", gateFixtures("v1:read", "v2:read"));
      const { code, output } = await runBrokerUntilExit({ ...folder.env }, 15_000);
      expect(code, output.join("\n")).toBe(1);
      const fatal = output.map((line) => JSON.parse(line) as Record<string, unknown>).find((record) => record.msg === "broker failed to start");
      expect(String(fatal?.reason)).toMatch(/^policy fixtures failed \(3 problems\):\n {2}gate\.test\.yaml: fixture "gate workload gets v1:read" failed/);
      expect(output.some((line) => line.includes('"msg":"listening"'))).toBe(false);

      const off = await startBroker({ ...folder.env, BROKER_PORT: String(await freePort()), BROKER_POLICY_FIXTURES: "off" });
      const warning = off.logRecords().find((record) => String(record.msg).startsWith("BROKER_POLICY_FIXTURES=off"));
      await off.stop();
      expect(warning).toMatchObject({ level: 40, msg: "BROKER_POLICY_FIXTURES=off: policy sets are put in force without running their fixtures" });
    } finally {
      await folder.close();
    }
  }, 40_000);
});
