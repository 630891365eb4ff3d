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
  | { readonly allow: false; readonly reason: DenialReason; readonly evaluated: readonly string[]; readonly details: readonly string[] };

/**
 * What one policy can grant, for operators (the inventory's blast radius): its grant limits as
 * written, without the CEL. Shared shape with helper B's `describe()` (issue 15).
 */
export interface PolicySummary {
  readonly id: string;
  readonly issuer: string;
  readonly owner: string | undefined;
  readonly description: string | undefined;
  readonly audiences: readonly string[];
  readonly scopes: readonly string[];
  readonly tokenTypes: readonly GrantedTokenType[];
  readonly maxLifetimeSeconds: number;
  readonly delegation: { readonly allowed: boolean; readonly maxChainDepth: number | undefined };
  /** The literal `workload_id`; undefined when the policy computes it (`workload_id_expr`). */
  readonly workloadId: string | undefined;
}

/** One loaded, compiled, immutable set of policies. */
export interface PolicySet {
  /** Content hash of the source files, for logs and /readyz. */
  readonly version: string;
  readonly policyIds: readonly string[];
  /** What each policy can grant, in load order. */
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
}

export type DelegationDecision =
  | { readonly allow: true; readonly delegation: Delegation }
  | { readonly allow: false; readonly reason: "delegation_not_granted" | "actor_not_allowed"; readonly detail: string };
