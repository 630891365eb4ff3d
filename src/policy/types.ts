import type { VerifiedSubject } from "../identity/types.js";
import type { ClaimValue, MayAct } from "../protocol/claims.js";

export type { ClaimValue, MayAct };

/**
 * Credential types a grant can allow. `access_token`: RFC 9068 JWT; `jwt`: JWT-SVID;
 * `x509_svid`: X.509-SVID (POST /svid/x509).
 */
export type GrantedTokenType = "access_token" | "jwt" | "x509_svid";

/** The request as policies see it (`request` in CEL). */
export interface RequestContext {
  /** `audience` parameters, in order. */
  readonly audiences: readonly string[];
  /** `resource` parameters, in order. */
  readonly resources: readonly string[];
  /** `scope`, split on spaces; empty when not asked. */
  readonly scopes: readonly string[];
  readonly requestedTokenType: GrantedTokenType;
  /** Lifetime the caller asked for, seconds; undefined when not asked. */
  readonly requestedLifetimeSeconds: number | undefined;
  readonly clientAddress: string;
  /** Seconds since the epoch at decision time. */
  readonly now: number;
  /**
   * The verified actor of a delegation request (RFC 8693 §2.1 `actor_token`); `actor` in CEL.
   * Undefined when no actor_token was sent (impersonation, the default).
   */
  readonly actor?: PrincipalContext;
  /**
   * The actors nested in the actor token's own `act` chain (a delegated broker token as
   * actor_token), outermost first, known only by what `act` records. The grant's
   * actor_condition must hold for each of them too. Not a CEL variable.
   */
  readonly actorChain?: readonly PrincipalContext[];
}

/**
 * A verified principal as policies see it: the actor (`actor.identity`, `actor.claims` in CEL),
 * or the subject of a broker token being delegated further (`identity`, `claims`).
 */
export interface PrincipalContext {
  readonly identity: {
    /** Configured issuer id, or "broker" for an access token of this broker. */
    readonly issuer: string;
    readonly iss: string;
    /** Platform profile, or "broker" for an access token of this broker. */
    readonly profile: string;
    /** The actor token's `sub` (a workload id for a broker token). */
    readonly subject: string;
    readonly attributes: Readonly<Record<string, string>>;
  };
  readonly claims: Readonly<Record<string, unknown>>;
}

/** What a grant's `delegation` allows, once compiled. */
export interface Delegation {
  /** Longest `act` chain (nested actors) a token issued under this grant may carry (1-5). */
  readonly maxChainDepth: number;
  /** `may_act` the grant adds to the tokens it issues; undefined: none. */
  readonly mayAct: MayAct | undefined;
}

/** The limits a policy's grant sets: what a request may ask for, at most. */
export interface GrantLimits {
  /** Audiences and resources the grant allows (`aud` is drawn from these). */
  readonly audiences: readonly string[];
  readonly scopes: readonly string[];
  readonly maxLifetimeSeconds: number;
  readonly tokenTypes: readonly GrantedTokenType[];
  /** DNS names an X.509-SVID may carry as SANs (empty: none). */
  readonly dnsNames: readonly string[];
}

/** A request narrowed to its bounds: what the credential will carry. */
export interface NarrowedRequest {
  readonly audiences: readonly string[];
  readonly scopes: readonly string[];
  readonly lifetimeSeconds: number;
}

/** A request narrowed to its bounds, or the first bound it exceeds. */
export type Narrowing =
  | ({ readonly ok: true } & NarrowedRequest)
  | { readonly ok: false; readonly code: "invalid_target" | "invalid_scope"; readonly detail: string };

/**
 * Narrows a request to a grant's limits: the authorization kernel's attenuation, handed to
 * policy evaluation by its caller. A grant covers a request when the narrowing succeeds; the
 * winning grant's narrowing is what gets issued, so a request is narrowed once.
 */
export type Narrow = (limits: Pick<GrantLimits, "audiences" | "scopes" | "maxLifetimeSeconds">, request: RequestContext) => Narrowing;

/** What a matched policy grants to one request. */
export interface Grant extends GrantLimits {
  readonly policyId: string;
  /** Becomes the `sub` of the issued credential. */
  readonly workloadId: string;
  /** The SPIFFE ID the grant assigns (JWT-SVID `sub`, X.509-SVID URI SAN); undefined when none. */
  readonly spiffeId: string | undefined;
  readonly extraClaims: Readonly<Record<string, ClaimValue>>;
  /** The grant's `delegation`; undefined: an actor_token is refused (no delegation). */
  readonly delegation: Delegation | undefined;
  /** `require_dpop`: access tokens are issued only bound to the key of a DPoP proof (RFC 9449). */
  readonly requireDpop: boolean;
}

export type DenialReason =
  /** No policy for this issuer has a condition that holds. */
  | "no_matching_policy"
  /** Some policy matched but none grants the requested audience/resource. */
  | "target_not_granted"
  /** Some policy matched and grants the target, but not the scope. */
  | "scope_not_granted"
  /** Some policy matched but none grants the requested token type. */
  | "token_type_not_granted"
  /** Some policy granted the request, but none allows delegation (an actor_token was sent). */
  | "delegation_not_granted"
  /** Some policy allows delegation, but the actor does not satisfy its actor_condition. */
  | "actor_not_allowed";

/** A denial is a value, not an exception. */
export type Decision =
  | {
      readonly allow: true;
      readonly grant: Grant;
      /** The request narrowed to the grant; undefined for an X.509-SVID, which names no audience or scope. */
      readonly narrowed: NarrowedRequest | undefined;
      readonly evaluated: readonly string[];
    }
  | {
      readonly allow: false;
      readonly reason: DenialReason;
      readonly evaluated: readonly string[];
      readonly details: readonly string[];
      /** What each evaluated policy said, in order, with the part of its condition that failed. Built on denial only. */
      readonly trace: readonly PolicyTraceEntry[];
    };

/** What one part of a condition gave: `true` appears only for the disjuncts of a failing `||`. */
export type ConditionPartResult = "true" | "false" | "error" | "not_bool";

/**
 * The first part of a condition that was not true (condition-trace.ts): a conjunct of its
 * top-level `&&` chain (nested `&&` flattened), or a whole `||` with what each disjunct gave.
 */
export interface ConditionFailure {
  /** The part's source text (unparsed from the policy's expression): never a value. */
  readonly expression: string;
  readonly result: Exclude<ConditionPartResult, "true">;
  /** The evaluation error (e.g. `no such key: team`): may quote a value, so never for the audit log. */
  readonly message?: string;
  /** For a failing `||`: each disjunct and what it gave. */
  readonly disjuncts?: readonly { readonly expression: string; readonly result: ConditionPartResult; readonly message?: string }[];
}

/** Outcomes of one policy against one request (compile-policy.ts `PolicyOutcome`). */
export type PolicyOutcomeName =
  | "granted"
  | "condition_false"
  | "grant_error"
  | "target_not_granted"
  | "scope_not_granted"
  | "token_type_not_granted"
  | "delegation_not_granted"
  | "actor_not_allowed";

/** One evaluated policy in a denial's trace. */
export interface PolicyTraceEntry {
  readonly policy: string;
  readonly outcome: Exclude<PolicyOutcomeName, "granted">;
  /** condition_false: the condition's first failing part; actor_not_allowed: the actor_condition's, when it was false for the actor. */
  readonly failed?: ConditionFailure;
}

/** One policy as `broker policy explain` shows it. */
export interface PolicyExplanation {
  readonly id: string;
  readonly issuer: string;
  /** Whether the policy is for the token's issuer (only those are evaluated). */
  readonly applied: boolean;
  /** not_applicable: another issuer's policy; not_reached: an earlier policy won. */
  readonly outcome: PolicyOutcomeName | "not_applicable" | "not_reached";
  readonly failed?: ConditionFailure;
  /** Why the policy did not grant (the narrowing problem, token type, delegation, grant error). */
  readonly detail?: string;
  /** The grant, for the winner. */
  readonly grant?: Grant;
  readonly narrowed?: NarrowedRequest;
}

/** A decision with every policy's verdict: `broker policy explain`. */
export interface Explanation {
  readonly decision: Decision;
  readonly policies: readonly PolicyExplanation[];
}

/**
 * A policy as a reviewer or an inventory sees it: what it is for, who owns it, and the most it
 * may grant. Read-only facts from the policy file; nothing here is evaluated.
 */
export interface PolicySummary {
  readonly id: string;
  /** Configured issuer id (issuers.yaml) whose tokens the policy applies to. */
  readonly issuer: string;
  /** `owner`: the team or contact answerable for the policy; undefined when the file names none. */
  readonly owner: string | undefined;
  /** `description`: what the policy is for; undefined when the file has none. */
  readonly description: string | undefined;
  /** Audiences and resources the grant allows. */
  readonly audiences: readonly string[];
  readonly scopes: readonly string[];
  readonly tokenTypes: readonly GrantedTokenType[];
  readonly maxLifetimeSeconds: number;
  /** Whether an actor_token may act for the subject, and the longest `act` chain (0 when not allowed). */
  readonly delegation: { readonly allowed: boolean; readonly maxChainDepth: number };
  /** `grant.workload_id` as written; undefined when `workload_id_expr` computes it per request. */
  readonly workloadId: string | undefined;
}

/** One loaded, compiled, immutable set of policies. */
export interface PolicySet {
  /** Content hash of the source files, for logs and /readyz. */
  readonly version: string;
  readonly policyIds: readonly string[];
  /** Every policy of the set, in load (evaluation) order, as {@link PolicySummary} facts. */
  describe(): readonly PolicySummary[];
  /** `narrow` decides whether a grant covers the request (the kernel's attenuation). */
  evaluate(subject: VerifiedSubject, request: RequestContext, narrow: Narrow): Decision;
  /**
   * Decides whether `request.actor` may extend the delegation chain of a broker token issued
   * under policy `policyId` (re-exchange with an actor_token). The policy's current
   * `delegation` applies: removing it stops every chain it allowed.
   */
  delegate(policyId: string, subject: PrincipalContext, request: RequestContext): DelegationDecision;
  /**
   * The workload an actor is (RFC 8693 actor_token from a trusted issuer): the workload id of
   * the first policy for its issuer whose condition holds, whatever the request asks for.
   * Undefined when no policy names it.
   */
  identify(subject: VerifiedSubject, request: RequestContext): { readonly policyId: string; readonly workloadId: string } | undefined;
  /**
   * The decision `evaluate` makes, with every policy's verdict (the failing part of each false
   * condition) and the winner's grant: `broker policy explain`. Slower than `evaluate`; never on
   * the request path.
   */
  explain(subject: VerifiedSubject, request: RequestContext, narrow: Narrow): Explanation;
}

export type DelegationDecision =
  | { readonly allow: true; readonly delegation: Delegation }
  | { readonly allow: false; readonly reason: "delegation_not_granted" | "actor_not_allowed"; readonly detail: string };
