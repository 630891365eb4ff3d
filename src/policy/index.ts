/** Public surface of the policy module: load, hold, evaluate and test policies. */
export type { ClaimValue, Decision, DenialReason, Grant, GrantedTokenType, PolicySet, PolicySummary, RequestContext } from "./types.js";
export { loadPolicySet, createPolicySet, PolicyLoadError } from "./load-policies.js";
export type { KnownIssuer, LoadPolicyOptions, PolicyLoadIssue } from "./load-policies.js";
export { PolicyStore } from "./policy-store.js";
export type { PolicyStoreOptions, ReloadResult } from "./policy-store.js";
export { readFixtureSources, runPolicyFixtures, FIXTURE_FILE_SUFFIX } from "./fixtures.js";
export type { FixtureResult } from "./fixtures.js";
export { checkFixtures, DEFAULT_FIXTURE_REQUIREMENT, FIXTURE_REQUIREMENTS, FixtureGateError, judgeFixtures, readFixtureFolder } from "./fixture-gate.js";
export type { FixtureFailure, FixtureRequirement, FixtureVerdict } from "./fixture-gate.js";
export { coverageGaps, policyFileNames } from "./fixture-coverage.js";
