import type { PolicyFile } from "./policy-schema.js";
import type { PolicySummary } from "./types.js";

/** The reviewer's facts of one schema-valid policy file (frozen): owner, purpose and the most it may grant. */
export function summarizePolicy(file: PolicyFile): PolicySummary {
  const { grant } = file;
  return Object.freeze({
    id: file.id,
    issuer: file.issuer,
    owner: file.owner,
    description: file.description,
    audiences: Object.freeze([...grant.audiences]),
    scopes: Object.freeze([...grant.scopes]),
    tokenTypes: Object.freeze([...grant.token_types]),
    maxLifetimeSeconds: grant.max_lifetime,
    delegation: Object.freeze(
      grant.delegation === undefined ? { allowed: false, maxChainDepth: 0 } : { allowed: true, maxChainDepth: grant.delegation.max_chain_depth },
    ),
    workloadId: grant.workload_id,
  });
}
