import type { VerifiedSubject } from "../identity/types.js";
import { celBindings } from "./cel-bindings.js";
import type { CelBindings } from "./cel.js";
import type { CompiledPolicy } from "./compile-policy.js";
import { evaluatePolicies, failedPartOf } from "./evaluate.js";
import type { Explanation, Narrow, PolicyExplanation, RequestContext } from "./types.js";

/**
 * One policy's verdict on a request, for `broker policy explain`: `match`, then the failing part
 * of the condition (or of the actor_condition) when that is why it did not grant.
 */
export function explainPolicy(policy: CompiledPolicy, subject: VerifiedSubject, request: RequestContext, narrow: Narrow, bindings: CelBindings): PolicyExplanation {
  const base = { id: policy.id, issuer: policy.issuer, applied: true };
  const outcome = policy.match(subject, request, narrow, bindings);
  if (outcome.outcome === "granted") {
    return { ...base, outcome: "granted", grant: outcome.grant, ...(outcome.narrowed === undefined ? {} : { narrowed: outcome.narrowed }) };
  }
  const failed = failedPartOf(policy, outcome.outcome, bindings);
  return { ...base, outcome: outcome.outcome, detail: outcome.detail, ...(failed === undefined ? {} : { failed }) };
}

/**
 * Every policy's verdict, in load order, beside the decision `evaluate` makes (the same function
 * decides, so explain can never disagree with the broker): another issuer's policies are
 * `not_applicable`, those after the winner `not_reached`.
 */
export function explainPolicies(policies: readonly CompiledPolicy[], subject: VerifiedSubject, request: RequestContext, narrow: Narrow): Explanation {
  const decision = evaluatePolicies(policies, subject, request, narrow);
  const bindings = celBindings(subject, request);
  let won = false;
  const verdicts = policies.map((policy): PolicyExplanation => {
    const base = { id: policy.id, issuer: policy.issuer };
    if (policy.issuer !== subject.identity.issuer) return { ...base, applied: false, outcome: "not_applicable" };
    if (won) return { ...base, applied: true, outcome: "not_reached" };
    const verdict = explainPolicy(policy, subject, request, narrow, bindings);
    won = verdict.outcome === "granted";
    return verdict;
  });
  return { decision, policies: verdicts };
}
