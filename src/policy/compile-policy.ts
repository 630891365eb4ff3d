// eslint-disable-next-line boundaries/dependencies -- issue 13: policy must not run the kernel's attenuation (moving out)
import { attenuate } from "../authorization/attenuate.js";
import type { VerifiedSubject } from "../identity/types.js";
import { compileCel, describeResult, isEvaluationError, toCelInput, toClaimValue } from "./cel.js";
import type { CelBindings, CelProgram } from "./cel.js";
import { parseSpiffeId } from "../identity/spiffe-id.js";
import { WORKLOAD_ID_PATTERN } from "./policy-schema.js";
import type { PolicyFile } from "./policy-schema.js";
import type { ClaimValue, Delegation, DelegationDecision, Grant, GrantLimits, PrincipalContext, RequestContext } from "./types.js";

/** What one policy says about one request. A value, never an exception. */
export type PolicyOutcome =
  | { readonly outcome: "granted"; readonly grant: Grant }
  | {
      readonly outcome:
        | "condition_false"
        | "grant_error"
        | "target_not_granted"
        | "scope_not_granted"
        | "token_type_not_granted"
        | "delegation_not_granted"
        | "actor_not_allowed";
      /** For the audit log only: may name policy internals. */
      readonly detail: string;
    };

/** A policy whose expressions were parsed and planned once, at load. Immutable. */
export interface CompiledPolicy extends GrantLimits {
  readonly id: string;
  readonly issuer: string;
  /**
   * Evaluates the condition, checks that the grant covers the request, then computes the
   * workload id and extra claims. `bindings` may be passed to share them across policies.
   */
  match(subject: VerifiedSubject, request: RequestContext, bindings?: CelBindings): PolicyOutcome;
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
}

/** A compile problem, with the field path inside the policy file. */
export interface CompileIssue {
  readonly path: string;
  readonly message: string;
}

export type Compilation = { readonly ok: true; readonly policy: CompiledPolicy } | { readonly ok: false; readonly issues: readonly CompileIssue[] };

/** Builds the CEL variables `identity`, `claims`, `request` and `actor` for one decision. */
export function celBindings(subject: PrincipalContext, request: RequestContext): CelBindings {
  const { identity } = subject;
  const { actor } = request;
  return {
    identity: toCelInput({
      issuer: identity.issuer,
      iss: identity.iss,
      profile: identity.profile,
      subject: identity.subject,
      attributes: identity.attributes,
    }),
    claims: toCelInput(subject.claims),
    request: toCelInput({
      audiences: request.audiences,
      resources: request.resources,
      scopes: request.scopes,
      requested_token_type: request.requestedTokenType,
      // CEL has no "undefined"; 0 reads naturally as "not asked" in a condition.
      requested_lifetime: request.requestedLifetimeSeconds ?? 0,
      client_address: request.clientAddress,
      time: request.now,
    }),
    // null when there is no actor: `actor == null` reads as "no delegation"; `actor.x` is an error, never true.
    actor: actor === undefined ? null : actorBinding(actor),
  };
}

/** The CEL `actor` variable for one actor. */
function actorBinding(actor: PrincipalContext): CelBindings["actor"] {
  return toCelInput({
    identity: {
      issuer: actor.identity.issuer,
      iss: actor.identity.iss,
      profile: actor.identity.profile,
      subject: actor.identity.subject,
      attributes: actor.identity.attributes,
    },
    claims: actor.claims,
  });
}

export interface CompileOptions {
  /** The broker's SPIFFE trust domain: every SPIFFE ID a grant assigns must lie in it. */
  readonly trustDomain: string;
}

/** Default SPIFFE trust domain (BROKER_TRUST_DOMAIN); config.ts documents it. */
export const DEFAULT_TRUST_DOMAIN = "broker.local";

/** Why `text` is not a SPIFFE ID of a workload in `trustDomain`, or undefined when it is one. */
export function spiffeIdProblem(text: string, trustDomain: string): string | undefined {
  const id = parseSpiffeId(text);
  if (id === undefined) return "is not a valid SPIFFE ID (SPIFFE-ID §2)";
  if (id.trustDomain !== trustDomain) return `is not in the trust domain ${trustDomain}`;
  // X509-SVID §2: the trust domain's own ID (no path) names the CA, never a workload.
  if (id.path === "") return "names the trust domain itself; a workload's SPIFFE ID needs a path";
  return undefined;
}

/** Compiles a schema-valid policy file; reports every bad expression, not just the first. */
export function compilePolicy(file: PolicyFile, options: CompileOptions = { trustDomain: DEFAULT_TRUST_DOMAIN }): Compilation {
  const issues: CompileIssue[] = [];
  const compile = (path: string, source: string): CelProgram | undefined => {
    const result = compileCel(source);
    if (result.ok) return result.program;
    issues.push({ path, message: result.message });
    return undefined;
  };

  const condition = compile("condition", file.condition);
  const workloadIdExpr = file.grant.workload_id_expr === undefined ? undefined : compile("grant.workload_id_expr", file.grant.workload_id_expr);
  const spiffeIdExpr = file.grant.spiffe_id_expr === undefined ? undefined : compile("grant.spiffe_id_expr", file.grant.spiffe_id_expr);
  const literalSpiffeId = file.grant.spiffe_id;
  if (literalSpiffeId !== undefined) {
    const problem = spiffeIdProblem(literalSpiffeId, options.trustDomain);
    if (problem !== undefined) issues.push({ path: "grant.spiffe_id", message: problem });
  }
  const claimPrograms: [string, CelProgram | undefined][] = Object.entries(file.grant.claims).map(([name, source]) => [
    name,
    compile(`grant.claims.${name}`, source),
  ]);
  const delegationFile = file.grant.delegation;
  const actorCondition = delegationFile === undefined ? undefined : compile("grant.delegation.actor_condition", delegationFile.actor_condition);
  if (issues.length > 0 || condition === undefined) return { ok: false, issues };
  const delegation: Delegation | undefined =
    delegationFile === undefined
      ? undefined
      : Object.freeze({
          maxChainDepth: delegationFile.max_chain_depth,
          mayAct: delegationFile.may_act === undefined ? undefined : Object.freeze({ ...delegationFile.may_act }),
        });
  const delegate = (bindings: CelBindings, request: RequestContext): DelegationDecision => {
    if (delegation === undefined || actorCondition === undefined) {
      return { allow: false, reason: "delegation_not_granted", detail: "grant has no delegation" };
    }
    // Every actor in the chain the actor brings (a delegated broker token as actor_token) must be
    // one this grant admits, not only the one presenting it: nobody hides behind another actor.
    const actors = [bindings.actor, ...(request.actorChain ?? []).map(actorBinding)];
    for (const [index, actor] of actors.entries()) {
      const held = actorCondition({ ...bindings, actor });
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
  };

  const workloadId = file.grant.workload_id;
  /** The grant's workload id for these bindings, or why there is none. */
  const workloadIdOf = (bindings: CelBindings): string | { problem: string } => {
    if (workloadIdExpr === undefined) return workloadId ?? { problem: "no workload id" };
    const result = workloadIdExpr(bindings);
    if (typeof result !== "string" || !WORKLOAD_ID_PATTERN.test(result)) {
      return { problem: `workload_id_expr did not give a valid workload id (${describeResult(result)})` };
    }
    return result;
  };
  const claims = claimPrograms.filter((entry): entry is [string, CelProgram] => entry[1] !== undefined);
  const policy: CompiledPolicy = {
    id: file.id,
    issuer: file.issuer,
    audiences: Object.freeze([...file.grant.audiences]),
    scopes: Object.freeze([...file.grant.scopes]),
    maxLifetimeSeconds: file.grant.max_lifetime,
    tokenTypes: Object.freeze([...file.grant.token_types]),
    dnsNames: Object.freeze([...file.grant.dns_names]),
    match(subject, request, bindings = celBindings(subject, request)) {
      const held = condition(bindings);
      if (held !== true) {
        // A missing claim yields an error value; it means "does not hold", never "allow".
        return { outcome: "condition_false", detail: held === false ? "condition is false" : `condition did not hold (${describeResult(held)})` };
      }

      // Global cap applies at issue time; here we only ask whether the grant covers the request.
      // An X.509-SVID names no audience or scope: only its SPIFFE ID and DNS names.
      if (request.requestedTokenType !== "x509_svid") {
        const narrowed = attenuate(policy, request, Number.POSITIVE_INFINITY);
        if (!narrowed.ok) {
          return { outcome: narrowed.code === "invalid_target" ? "target_not_granted" : "scope_not_granted", detail: narrowed.detail };
        }
      }
      if (!policy.tokenTypes.includes(request.requestedTokenType)) {
        return { outcome: "token_type_not_granted", detail: `token type ${request.requestedTokenType} not granted` };
      }
      // Delegation: only a grant that says so lets an actor act for the subject (RFC 8693 §1.1).
      if (request.actor !== undefined) {
        const delegated = delegate(bindings, request);
        if (!delegated.allow) return { outcome: delegated.reason, detail: delegated.detail };
      }

      const subjectId = workloadIdOf(bindings);
      if (typeof subjectId !== "string") return { outcome: "grant_error", detail: subjectId.problem };

      let spiffeId = literalSpiffeId;
      if (spiffeIdExpr !== undefined) {
        const result = spiffeIdExpr(bindings);
        const problem = typeof result === "string" ? spiffeIdProblem(result, options.trustDomain) : "is not a string";
        if (typeof result !== "string" || problem !== undefined) {
          return { outcome: "grant_error", detail: `spiffe_id_expr gave no valid SPIFFE ID: ${describeResult(result)} ${problem ?? ""}`.trim() };
        }
        spiffeId = result;
      }

      const extraClaims: [string, ClaimValue][] = [];
      for (const [name, program] of claims) {
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
        delegation,
        requireDpop: file.grant.require_dpop,
      };
      return { outcome: "granted", grant };
    },
    delegate(subject, request, bindings = celBindings(subject, request)) {
      return delegate(bindings, request);
    },
    workloadOf(subject, request, bindings = celBindings(subject, request)) {
      if (condition(bindings) !== true) return undefined;
      const id = workloadIdOf(bindings);
      return typeof id === "string" ? id : undefined;
    },
  };
  return { ok: true, policy: Object.freeze(policy) };
}
