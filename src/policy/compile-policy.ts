import type { ProfileName, VerifiedSubject } from "../identity/types.js";
import { actorBinding, celBindings } from "./cel-bindings.js";
import { describeResult, isEvaluationError, toClaimValue } from "./cel.js";
import type { CelBindings } from "./cel.js";
import { compileExpressions, spiffeIdProblem } from "./compile-expressions.js";
import type { CompileIssue, Programs } from "./compile-expressions.js";
import { compileConditionTrace, type ConditionTrace } from "./condition-trace.js";
import { WORKLOAD_ID_PATTERN } from "./policy-schema.js";
import type { PolicyFile } from "./policy-schema.js";
import { summarizePolicy } from "./policy-summary.js";
import type {
  ClaimValue,
  ConditionFailure,
  Delegation,
  DelegationDecision,
  Grant,
  GrantLimits,
  Narrow,
  NarrowedRequest,
  PolicySummary,
  PolicyOutcomeName,
  PrincipalContext,
  RequestContext,
} from "./types.js";

/** What one policy says about one request. A value, never an exception. */
export type PolicyOutcome =
  | { readonly outcome: "granted"; readonly grant: Grant; readonly narrowed: NarrowedRequest | undefined }
  | {
      readonly outcome: Exclude<PolicyOutcomeName, "granted">;
      /** For the audit log only: may name policy internals. */
      readonly detail: string;
    };

/** A policy whose expressions were parsed and planned once, at load. Immutable. */
export interface CompiledPolicy extends GrantLimits {
  readonly id: string;
  readonly issuer: string;
  /** Owner, description and grant limits as written, for `PolicySet.describe()`. */
  readonly summary: PolicySummary;
  /**
   * Evaluates the condition, checks that the grant covers the request (`narrow`: the kernel's
   * attenuation, whose result comes back with the grant), then computes the workload id and extra
   * claims. `bindings` may be passed to share them across policies.
   */
  match(subject: VerifiedSubject, request: RequestContext, narrow: Narrow, bindings?: CelBindings): PolicyOutcome;
  /**
   * Whether `request.actor` may act for `subject` under this policy's `delegation` (its
   * actor_condition), without the policy's own condition: used to extend the chain of a broker
   * token this policy granted. `bindings` may be passed when already built.
   */
  delegate(subject: PrincipalContext, request: RequestContext, bindings?: CelBindings): DelegationDecision;
  /**
   * The workload id this policy gives `subject` when its condition holds, whatever the request
   * asks for: how an actor is mapped to its workload (for blocks, revocation and rate limits).
   */
  workloadOf(subject: VerifiedSubject, request: RequestContext, bindings?: CelBindings): string | undefined;
  /** The first part of the condition that is not true for `bindings` (undefined: it holds). Denials and explain only. */
  conditionFailure(bindings: CelBindings): ConditionFailure | undefined;
  /** The same for the grant's actor_condition, `bindings.actor` being the actor; undefined without delegation. */
  actorConditionFailure(bindings: CelBindings): ConditionFailure | undefined;
}

export type Compilation =
  | { readonly ok: true; readonly policy: CompiledPolicy; readonly warnings: readonly CompileIssue[] }
  | { readonly ok: false; readonly issues: readonly CompileIssue[] };

export interface CompileOptions {
  /** The broker's SPIFFE trust domain: every SPIFFE ID a grant assigns must lie in it. */
  readonly trustDomain: string;
  /** The profile of the policy's issuer (issuers.yaml): `identity.attributes` is type-checked against it. */
  readonly profile?: ProfileName;
}

/** Default SPIFFE trust domain (BROKER_TRUST_DOMAIN); config.ts documents it. */
export const DEFAULT_TRUST_DOMAIN = "broker.local";

export type { CompileIssue } from "./compile-expressions.js";

/** The condition and actor_condition split into parts, compiled once at load, read only on denials. */
interface Traces {
  readonly condition: ConditionTrace;
  readonly actorCondition: ConditionTrace | undefined;
}

/** What evaluating one compiled policy reads besides the request: its file, programs and options. */
interface PolicyParts {
  readonly file: PolicyFile;
  readonly programs: Programs;
  readonly delegation: Delegation | undefined;
  readonly trustDomain: string;
}

/** Compiles a schema-valid policy file; reports every bad expression, not just the first. */
export function compilePolicy(file: PolicyFile, options: CompileOptions = { trustDomain: DEFAULT_TRUST_DOMAIN }): Compilation {
  const compiled = compileExpressions(file, { trustDomain: options.trustDomain, profile: options.profile });
  if (compiled.programs === undefined) return { ok: false, issues: compiled.issues };
  const delegationFile = file.grant.delegation;
  const delegation: Delegation | undefined =
    delegationFile === undefined
      ? undefined
      : Object.freeze({
          maxChainDepth: delegationFile.max_chain_depth,
          mayAct: delegationFile.may_act === undefined ? undefined : Object.freeze({ ...delegationFile.may_act }),
        });
  const parts: PolicyParts = { file, programs: compiled.programs, delegation, trustDomain: options.trustDomain };
  const traces = tracesOf(file, compiled.programs);
  const policy: CompiledPolicy = {
    id: file.id,
    issuer: file.issuer,
    audiences: Object.freeze([...file.grant.audiences]),
    scopes: Object.freeze([...file.grant.scopes]),
    maxLifetimeSeconds: file.grant.max_lifetime,
    tokenTypes: Object.freeze([...file.grant.token_types]),
    dnsNames: Object.freeze([...file.grant.dns_names]),
    summary: summarizePolicy(file),
    match: (subject, request, narrow, bindings = celBindings(subject, request)) => matchPolicy(policy, parts, request, narrow, bindings),
    delegate: (subject, request, bindings = celBindings(subject, request)) => checkDelegation(parts, bindings, request),
    workloadOf(subject, request, bindings = celBindings(subject, request)) {
      if (parts.programs.condition(bindings) !== true) return undefined;
      const id = workloadIdOf(parts, bindings);
      return typeof id === "string" ? id : undefined;
    },
    conditionFailure: (bindings) => traces.condition.firstFailure(bindings),
    actorConditionFailure: (bindings) => traces.actorCondition?.firstFailure(bindings),
  };
  return { ok: true, policy: Object.freeze(policy), warnings: compiled.warnings };
}

/** The traces of a policy's condition and actor_condition, built beside their programs (which they reuse whole). */
function tracesOf(file: PolicyFile, programs: Programs): Traces {
  const actorSource = file.grant.delegation?.actor_condition;
  return {
    condition: compileConditionTrace(file.condition, programs.condition),
    actorCondition: actorSource === undefined || programs.actorCondition === undefined ? undefined : compileConditionTrace(actorSource, programs.actorCondition),
  };
}

/** One policy against one request: condition, coverage, token type, delegation, then the grant. */
function matchPolicy(policy: CompiledPolicy, parts: PolicyParts, request: RequestContext, narrow: Narrow, bindings: CelBindings): PolicyOutcome {
  const held = parts.programs.condition(bindings);
  if (held !== true) {
    // A missing claim yields an error value; it means "does not hold", never "allow".
    return { outcome: "condition_false", detail: held === false ? "condition is false" : `condition did not hold (${describeResult(held)})` };
  }
  // Global cap applies at issue time (`narrow` carries it); here the grant must cover the request.
  // An X.509-SVID names no audience or scope: only its SPIFFE ID and DNS names.
  let narrowed: NarrowedRequest | undefined;
  if (request.requestedTokenType !== "x509_svid") {
    const narrowing = narrow(policy, request);
    if (!narrowing.ok) {
      return { outcome: narrowing.code === "invalid_target" ? "target_not_granted" : "scope_not_granted", detail: narrowing.detail };
    }
    narrowed = { audiences: narrowing.audiences, scopes: narrowing.scopes, lifetimeSeconds: narrowing.lifetimeSeconds };
  }
  if (!policy.tokenTypes.includes(request.requestedTokenType)) {
    return { outcome: "token_type_not_granted", detail: `token type ${request.requestedTokenType} not granted` };
  }
  // Delegation: only a grant that says so lets an actor act for the subject (RFC 8693 §1.1).
  if (request.actor !== undefined) {
    const delegated = checkDelegation(parts, bindings, request);
    if (!delegated.allow) return { outcome: delegated.reason, detail: delegated.detail };
  }
  return grantOf(policy, parts, bindings, narrowed);
}

/** The grant's workload id, SPIFFE ID and extra claims for these bindings, or why one is missing. */
function grantOf(policy: CompiledPolicy, parts: PolicyParts, bindings: CelBindings, narrowed: NarrowedRequest | undefined): PolicyOutcome {
  const subjectId = workloadIdOf(parts, bindings);
  if (typeof subjectId !== "string") return { outcome: "grant_error", detail: subjectId.problem };
  const spiffeId = spiffeIdOf(parts, bindings);
  if (typeof spiffeId === "object") return { outcome: "grant_error", detail: spiffeId.problem };
  const extraClaims: [string, ClaimValue][] = [];
  for (const [name, program] of parts.programs.claims) {
    const result = program(bindings);
    const value = isEvaluationError(result) ? undefined : toClaimValue(result);
    if (value === undefined) {
      return { outcome: "grant_error", detail: `claim ${name} did not give a string, number, bool or list of strings (${describeResult(result)})` };
    }
    extraClaims.push([name, value]);
  }
  const grant: Grant = {
    policyId: policy.id,
    workloadId: subjectId,
    audiences: policy.audiences,
    scopes: policy.scopes,
    maxLifetimeSeconds: policy.maxLifetimeSeconds,
    tokenTypes: policy.tokenTypes,
    spiffeId,
    dnsNames: policy.dnsNames,
    extraClaims: Object.freeze(Object.fromEntries(extraClaims)),
    delegation: parts.delegation,
    requireDpop: parts.file.grant.require_dpop,
  };
  return { outcome: "granted", grant, narrowed };
}

/** The grant's workload id for these bindings, or why there is none. */
function workloadIdOf(parts: PolicyParts, bindings: CelBindings): string | { problem: string } {
  const { workloadIdExpr } = parts.programs;
  if (workloadIdExpr === undefined) return parts.file.grant.workload_id ?? { problem: "no workload id" };
  const result = workloadIdExpr(bindings);
  if (typeof result !== "string" || !WORKLOAD_ID_PATTERN.test(result)) {
    return { problem: `workload_id_expr did not give a valid workload id (${describeResult(result)})` };
  }
  return result;
}

/** The grant's SPIFFE ID (literal or computed; undefined when it assigns none), or why it is invalid. */
function spiffeIdOf(parts: PolicyParts, bindings: CelBindings): string | undefined | { problem: string } {
  const { spiffeIdExpr } = parts.programs;
  if (spiffeIdExpr === undefined) return parts.file.grant.spiffe_id;
  const result = spiffeIdExpr(bindings);
  const problem = typeof result === "string" ? spiffeIdProblem(result, parts.trustDomain) : "is not a string";
  if (typeof result !== "string" || problem !== undefined) {
    return { problem: `spiffe_id_expr gave no valid SPIFFE ID: ${describeResult(result)} ${problem ?? ""}`.trim() };
  }
  return result;
}

/** Whether `request.actor` may act for the subject under the grant's `delegation` (its actor_condition and may_act). */
function checkDelegation(parts: PolicyParts, bindings: CelBindings, request: RequestContext): DelegationDecision {
  const { delegation } = parts;
  const { actorCondition } = parts.programs;
  if (delegation === undefined || actorCondition === undefined) {
    return { allow: false, reason: "delegation_not_granted", detail: "grant has no delegation" };
  }
  // Every actor in the chain the actor brings (a delegated broker token as actor_token) must be
  // one this grant admits, not only the one presenting it: nobody hides behind another actor.
  const actors = [bindings.actor, ...(request.actorChain ?? []).map(actorBinding)];
  for (const [index, actor] of actors.entries()) {
    // A literal, not `{ ...bindings, actor }`: a spread then a property makes a hidden class per call (lib/merged.ts).
    const held = actorCondition({ identity: bindings.identity, claims: bindings.claims, request: bindings.request, actor });
    if (held !== true) {
      const which = index === 0 ? "" : ` for prior actor ${index} of the actor_token's chain`;
      return {
        allow: false,
        reason: "actor_not_allowed",
        detail: held === false ? `actor_condition is false${which}` : `actor_condition did not hold${which} (${describeResult(held)})`,
      };
    }
  }
  // RFC 8693 §4.4: a grant that names who may act admits no other current actor, so the broker
  // never signs a token whose act contradicts its own may_act.
  const { mayAct } = delegation;
  const actor = request.actor;
  if (mayAct !== undefined && actor !== undefined) {
    const actorSub = actor.identity.subject;
    if (mayAct.sub !== actorSub || (mayAct.iss !== undefined && mayAct.iss !== actor.identity.iss)) {
      return {
        allow: false,
        reason: "actor_not_allowed",
        detail: `may_act names ${mayAct.sub}${mayAct.iss ? ` of ${mayAct.iss}` : ""}; actor is ${actorSub} of ${actor.identity.iss}`,
      };
    }
  }
  return { allow: true, delegation };
}
