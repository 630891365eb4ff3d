import { epochSeconds, type Clock } from "../lib/clock.js";
import type { PolicySet, ReloadResult } from "../policy/index.js";
import type { BrokerMetrics } from "./broker-metrics.js";

/** What the policy metrics read from the store: the set in force and its reloads. */
export interface ReloadingPolicies {
  current(): PolicySet;
  onReload(listener: (result: ReloadResult) => void): () => void;
}

/**
 * Counts every reload by outcome and keeps the version gauge and load time on the set in force:
 * set now, then again each time a reload puts a new set in force. Returns the unsubscribe.
 */
export function countPolicyReloads(policies: ReloadingPolicies, metrics: BrokerMetrics, clock: Clock): () => void {
  metrics.policySetInForce(policies.current().version, epochSeconds(clock));
  return policies.onReload((result) => {
    const outcome = !result.ok ? "failed" : result.changed ? "applied" : "unchanged";
    metrics.policyReloads.inc({ outcome });
    if (outcome === "applied") metrics.policySetInForce(result.version, epochSeconds(clock));
  });
}
