import type { PolicyUsage } from "../inventory/inventory-store.js";
import type { PolicySummary } from "../policy/types.js";

/**
 * What a credential of one workload could reach at worst: the union over every policy that can
 * mint it. `size` is |audiences| × max(1, |scopes|) × |token types|: the number of distinct
 * (audience, scope, token type) grants a leaked subject token could turn into credentials.
 */
export interface BlastRadius {
  readonly audiences: readonly string[];
  readonly scopes: readonly string[];
  readonly tokenTypes: readonly string[];
  /** The longest lifetime any of them grants (seconds); 0 when no policy can mint it. */
  readonly maxLifetimeSeconds: number;
  readonly delegation: { readonly allowed: boolean; readonly maxChainDepth: number | undefined };
  readonly size: number;
}

/** The union of what `policies` grant (none: nothing, size 0). */
export function blastRadius(policies: readonly PolicySummary[]): BlastRadius {
  const audiences = new Set<string>();
  const scopes = new Set<string>();
  const tokenTypes = new Set<string>();
  let maxLifetimeSeconds = 0;
  let maxChainDepth: number | undefined;
  for (const policy of policies) {
    for (const audience of policy.audiences) audiences.add(audience);
    for (const scope of policy.scopes) scopes.add(scope);
    for (const type of policy.tokenTypes) tokenTypes.add(type);
    maxLifetimeSeconds = Math.max(maxLifetimeSeconds, policy.maxLifetimeSeconds);
    if (policy.delegation.allowed) maxChainDepth = Math.max(maxChainDepth ?? 0, policy.delegation.maxChainDepth ?? 1);
  }
  return {
    audiences: [...audiences].sort(),
    scopes: [...scopes].sort(),
    tokenTypes: [...tokenTypes].sort(),
    maxLifetimeSeconds,
    delegation: { allowed: maxChainDepth !== undefined, maxChainDepth },
    size: policies.length === 0 ? 0 : audiences.size * Math.max(1, scopes.size) * tokenTypes.size,
  };
}

/** What a policy grants that no issuance under it ever asked for (within the inventory's TTL). */
export interface UnusedGrants {
  readonly policyId: string;
  readonly owner: string | undefined;
  readonly audiences: readonly string[];
  readonly scopes: readonly string[];
  readonly tokenTypes: readonly string[];
  /** Its last grant (ms); undefined: never used. */
  readonly lastUsedMs: number | undefined;
}

/** The policies granting more than was ever asked for: least privilege from real use. */
export function unusedGrants(policies: readonly PolicySummary[], usage: readonly PolicyUsage[]): UnusedGrants[] {
  const found: UnusedGrants[] = [];
  policies.forEach((policy, index) => {
    const used = usage[index];
    const never = (granted: readonly string[], asked: readonly string[] | undefined) => granted.filter((item) => !(asked ?? []).includes(item));
    const unused = {
      policyId: policy.id,
      owner: policy.owner,
      audiences: never(policy.audiences, used?.audiences),
      scopes: never(policy.scopes, used?.scopes),
      tokenTypes: never(policy.tokenTypes, used?.tokenTypes),
      lastUsedMs: used?.lastUsedMs,
    };
    if (unused.audiences.length + unused.scopes.length + unused.tokenTypes.length > 0) found.push(unused);
  });
  return found;
}

/** The policies that can mint `workloadId`: its literal `workload_id`, or those that did mint it (workload_id_expr). */
export function policiesMinting(workloadId: string, policies: readonly PolicySummary[], mintedBy: readonly string[]): PolicySummary[] {
  return policies.filter((policy) => policy.workloadId === workloadId || (policy.workloadId === undefined && mintedBy.includes(policy.id)));
}
