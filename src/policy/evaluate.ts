import type { VerifiedSubject } from "../identity/types.js";
import { celBindings } from "./cel-bindings.js";
import type { CompiledPolicy, PolicyOutcome } from "./compile-policy.js";
import type { CelBindings } from "./cel.js";
import type { ConditionFailure, Decision, DenialReason, Narrow, PolicyTraceEntry, RequestContext } from "./types.js";

/** A policy's outcome other than a grant. */
type Refusal = Exclude<PolicyOutcome, { readonly outcome: "granted" }>;

/**
 * How far a request got with a policy whose condition held. The denial reports the furthest
 * any policy got, so the caller learns the most specific thing it can fix
 * (target → scope → token type), and "no policy" only when no condition held at all.
 */
const SPECIFICITY: Readonly<Record<DenialReason, number>> = {
  no_matching_policy: 0,
  target_not_granted: 1,
  scope_not_granted: 2,
  token_type_not_granted: 3,
  delegation_not_granted: 4,
  actor_not_allowed: 5,
};

/**
 * Decides one request. Deny by default: only policies for the subject's issuer are tried, in
 * load order, and the first whose condition holds and whose grant covers the request wins.
 * Never throws: every expression failure is a "does not match" recorded in `details`. `narrow`
 * decides whether a grant covers the request; the winner's narrowing comes back with it.
 */
export function evaluatePolicies(policies: readonly CompiledPolicy[], subject: VerifiedSubject, request: RequestContext, narrow: Narrow): Decision {
  const evaluated: string[] = [];
  const details: string[] = [];
  // The outcome of each evaluated policy, made at the first refusal: a request the first policy
  // grants allocates nothing for the trace. On a denial every evaluated policy refused, in order.
  let refusals: Refusal[] | undefined;
  let reason: DenialReason = "no_matching_policy";
  let bindings: ReturnType<typeof celBindings> | undefined;

  for (const policy of policies) {
    if (policy.issuer !== subject.identity.issuer) continue;
    bindings ??= celBindings(subject, request);
    evaluated.push(policy.id);
    let outcome: PolicyOutcome;
    try {
      outcome = policy.match(subject, request, narrow, bindings);
    } catch (error) {
      // match() is built not to throw; if it ever does, that policy simply does not match.
      outcome = { outcome: "grant_error", detail: `evaluation failed: ${error instanceof Error ? error.message : String(error)}` };
    }
    if (outcome.outcome === "granted") return { allow: true, grant: outcome.grant, narrowed: outcome.narrowed, evaluated };
    details.push(`${policy.id}: ${outcome.outcome}: ${outcome.detail}`);
    (refusals ??= []).push(outcome);
    if (outcome.outcome === "condition_false" || outcome.outcome === "grant_error") continue;
    if (SPECIFICITY[outcome.outcome] > SPECIFICITY[reason]) reason = outcome.outcome;
  }
  if (evaluated.length === 0) details.push(`no policy for issuer ${subject.identity.issuer}`);
  // Only now, on a denial, are the failing parts of conditions looked for: the allow path never pays for them.
  const trace = bindings === undefined || refusals === undefined ? [] : traceOf(policies, subject.identity.issuer, refusals, bindings);
  return { allow: false, reason, evaluated, details, trace };
}

/** The trace of a denial: the evaluated policies (those of the issuer, in order) beside their outcomes. */
function traceOf(policies: readonly CompiledPolicy[], issuer: string, outcomes: readonly Refusal[], bindings: CelBindings): PolicyTraceEntry[] {
  const evaluated = policies.filter((policy) => policy.issuer === issuer);
  return outcomes.map((outcome, index) => traceEntry(evaluated[index] as CompiledPolicy, outcome, bindings));
}

/** One refused policy in a denial's trace: its outcome, and the part of its condition (or actor_condition) that failed. */
function traceEntry(policy: CompiledPolicy, outcome: Refusal, bindings: CelBindings): PolicyTraceEntry {
  const failed = failedPartOf(policy, outcome.outcome, bindings);
  return failed === undefined ? { policy: policy.id, outcome: outcome.outcome } : { policy: policy.id, outcome: outcome.outcome, failed };
}

/** The part of the condition (condition_false) or of the actor_condition (actor_not_allowed) that was not true; undefined for other outcomes. */
export function failedPartOf(policy: CompiledPolicy, outcome: Refusal["outcome"], bindings: CelBindings): ConditionFailure | undefined {
  if (outcome === "condition_false") return policy.conditionFailure(bindings);
  return outcome === "actor_not_allowed" ? policy.actorConditionFailure(bindings) : undefined;
}
