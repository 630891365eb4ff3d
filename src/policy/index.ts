/** Public surface of the policy module: load, hold, evaluate and test policies. */
export type { ClaimValue, Decision, DenialReason, Grant, GrantedTokenType, PolicySet, RequestContext } from "./types.js";
export { loadPolicySet, createPolicySet, PolicyLoadError, POLICY_FILE_SUFFIX } from "./load-policies.js";
export type { LoadPolicyOptions, PolicyLoadIssue } from "./load-policies.js";
export { PolicyStore } from "./policy-store.js";
export type { PolicyStoreOptions, ReloadResult } from "./policy-store.js";
export { runPolicyFixtures, FIXTURE_FILE_SUFFIX } from "./fixtures.js";
export type { FixtureResult } from "./fixtures.js";
export { RESERVED_CLAIM_NAMES, MAX_POLICY_LIFETIME_SECONDS } from "./policy-schema.js";
