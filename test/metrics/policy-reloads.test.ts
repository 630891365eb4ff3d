import { afterEach, describe, expect, it } from "vitest";
import type { Clock } from "../../src/lib/clock.js";
import { BrokerMetrics } from "../../src/metrics/broker-metrics.js";
import { countPolicyReloads } from "../../src/metrics/policy-reloads.js";
import { PolicyStore } from "../../src/policy/policy-store.js";
import { KNOWN_ISSUERS, policyYaml, tempDir } from "../support/policy.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The sample lines of one metric family in the exposition text. */
async function samples(metrics: BrokerMetrics, name: string): Promise<string[]> {
  const { body } = await metrics.scrape();
  return body.split("\n").filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
}

describe("policy reload metrics", () => {
  it("count reloads by outcome and follow the set in force: one version series, its load time", async () => {
    let nowMs = 1_800_000_000_000;
    const clock: Clock = { now: () => nowMs };
    const temp = await tempDir({ "a.policy.yaml": policyYaml({ id: "a", scopes: ["read"] }) });
    cleanups.push(temp.cleanup);
    const store = await PolicyStore.open({ dir: temp.dir, knownIssuers: KNOWN_ISSUERS });
    cleanups.push(() => store.close());
    const metrics = new BrokerMetrics();
    countPolicyReloads(store, metrics, clock);
    const first = store.current().version;
    expect(await samples(metrics, "broker_policy_set_info")).toEqual([`broker_policy_set_info{version="${first}"} 1`]);
    expect(await samples(metrics, "broker_policy_set_loaded_timestamp_seconds")).toEqual(["broker_policy_set_loaded_timestamp_seconds 1800000000"]);

    await store.reload();
    await temp.write("a.policy.yaml", "id: [broken");
    nowMs += 60_000;
    await store.reload();
    expect(await samples(metrics, "broker_policy_reloads_total")).toEqual([
      'broker_policy_reloads_total{outcome="unchanged"} 1',
      'broker_policy_reloads_total{outcome="failed"} 1',
    ]);
    // A refused reload changes nothing in force.
    expect(await samples(metrics, "broker_policy_set_info")).toEqual([`broker_policy_set_info{version="${first}"} 1`]);
    expect(await samples(metrics, "broker_policy_set_loaded_timestamp_seconds")).toEqual(["broker_policy_set_loaded_timestamp_seconds 1800000000"]);

    await temp.write("a.policy.yaml", policyYaml({ id: "a", scopes: ["read", "write"] }));
    nowMs += 60_000;
    await store.reload();
    const second = store.current().version;
    expect(second).not.toBe(first);
    expect(await samples(metrics, "broker_policy_reloads_total")).toContain('broker_policy_reloads_total{outcome="applied"} 1');
    expect(await samples(metrics, "broker_policy_set_info")).toEqual([`broker_policy_set_info{version="${second}"} 1`]);
    expect(await samples(metrics, "broker_policy_set_loaded_timestamp_seconds")).toEqual(["broker_policy_set_loaded_timestamp_seconds 1800000120"]);
  });
});
