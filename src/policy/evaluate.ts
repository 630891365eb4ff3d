import type { VerifiedSubject } from "../identity/types.js";
import { celBindings } from "./cel-bindings.js";
import type { CompiledPolicy, PolicyOutcome } from "./compile-policy.js";
import type { Decision, DenialReason, Narrow, RequestContext } from "./types.js";

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
    if (outcome.outcome === "condition_false" || outcome.outcome === "grant_error") continue;
    if (SPECIFICITY[outcome.outcome] > SPECIFICITY[reason]) reason = outcome.outcome;
  }
  if (evaluated.length === 0) details.push(`no policy for issuer ${subject.identity.issuer}`);
  return { allow: false, reason, evaluated, details };
}
