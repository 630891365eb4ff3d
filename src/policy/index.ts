/** Public surface of the policy module: load, hold, evaluate and test policies. */
export type { ClaimValue, Decision, DenialReason, Grant, GrantedTokenType, PolicySet, PolicySummary, RequestContext } from "./types.js";
export { loadPolicySet, createPolicySet, PolicyLoadError } from "./load-policies.js";
export type { LoadPolicyOptions, PolicyLoadIssue } from "./load-policies.js";
export { PolicyStore } from "./policy-store.js";
export type { PolicyStoreOptions, ReloadResult } from "./policy-store.js";
export { runPolicyFixtures, FIXTURE_FILE_SUFFIX } from "./fixtures.js";
export type { FixtureResult } from "./fixtures.js";
