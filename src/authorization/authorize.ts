import { knowing, withFacts, type DecisionFacts } from "../audit/decision-facts.js";
import { merged } from "../lib/merged.js";
import { BrokerError, type BrokerErrorCode } from "../errors/broker-error.js";
import type { ExternalTokenType, SubjectTokenVerifier, VerifiedSubject } from "../identity/types.js";
import type { DenialReason, Grant, NarrowedRequest, PolicySet, RequestContext } from "../policy/types.js";
import { admitInTurn, type AdmitIssuance } from "./admit-issuance.js";
import type { AdmitWorkload } from "./rate-limit-gate.js";
import type { IssuanceChecks } from "../revocation/revocation-store.js";
import { chainDepth } from "./act-claim.js";
import { narrowWithin } from "./attenuate.js";
import { checkChainDepth, nestAct } from "./delegation.js";
import { policyTraceFacts } from "./policy-trace-record.js";
import type { IssuanceFloor } from "./revocation-checks.js";
import { actorFacts, type VerifiedActor } from "./verify-actor.js";

export interface AuthorizeDeps {
  readonly verifier: SubjectTokenVerifier;
  readonly policies: () => PolicySet;
  readonly revocations: IssuanceChecks;
  /** The per-workload rate limit (throws 429); undefined: none. */
  readonly admitWorkload?: AdmitWorkload;
  /**
   * The store's checks and the workload's charge in one round trip (admit-issuance.ts), used
   * instead of `revocations` and `admitWorkload` where the store can; undefined: in turn.
   */
  readonly admitIssuance?: AdmitIssuance | undefined;
}

export const DENIAL_CODES: Record<DenialReason, BrokerErrorCode> = {
  no_matching_policy: "unauthorized_client",
  target_not_granted: "invalid_target",
  scope_not_granted: "invalid_scope",
  token_type_not_granted: "invalid_request",
  delegation_not_granted: "unauthorized_client",
  actor_not_allowed: "unauthorized_client",
};

export const DENIAL_DESCRIPTIONS: Record<DenialReason, string> = {
  no_matching_policy: "no policy grants a credential to this identity",
  target_not_granted: "the requested audience or resource is not granted to this identity",
  scope_not_granted: "the requested scope is not granted to this identity",
  token_type_not_granted: "the requested_token_type is not granted to this identity",
  delegation_not_granted: "delegation is not allowed for this identity",
  actor_not_allowed: "the actor is not allowed to act for this identity",
};

/** How one request is authorized, besides its subject token and context. */
export interface AuthorizeOptions<C> {
  /** Verifies the actor_token of a delegation request, once the subject is known good; undefined: no actor. */
  readonly resolveActor?: () => Promise<VerifiedActor>;
  /**
   * A check of the grant before the store (e.g. require_dpop, a CSR's proof of possession): it
   * runs once the subject token is verified and a policy matched, and a refusal spends no
   * single-use token and no rate-limit budget. What it answers comes back as `checked`, and the
   * facts it established are kept for the refusals that follow.
   */
  readonly checkGrant?: (grant: Grant) => GrantCheck<C> | void | Promise<GrantCheck<C> | void>;
  /** The global lifetime cap the request is narrowed within (BROKER_MAX_TOKEN_LIFETIME); default none. */
  readonly maxLifetimeSeconds?: number;
}

/** What a grant check answers, and the facts it established for the audit record. */
export interface GrantCheck<C> {
  readonly checked: C;
  readonly facts: DecisionFacts;
}

/** An authorized request: who, under which grant, narrowed to what, and stamped after which revocation. */
export interface Authorization<C> {
  readonly subject: VerifiedSubject;
  readonly grant: Grant;
  /** The request narrowed to the grant (RFC 8693 §2.1, RFC 6749 §3.3); undefined for an X.509-SVID, which names neither. */
  readonly narrowed: NarrowedRequest | undefined;
  /** The verified actor of a delegation request; undefined: none. */
  readonly actor: VerifiedActor | undefined;
  readonly floor: IssuanceFloor;
  readonly checked: C | undefined;
  /** What the checks established, for the audit record (a refusal carries what was known then). */
  readonly facts: DecisionFacts;
}

/**
 * The checks every issuance shares (/token and /svid/x509): verify the subject token, decide by
 * policy (deny by default; an actor, when `resolveActor` is given, is verified after the subject
 * and seen by the policy as `actor`), narrowing the request to the grant that covers it (the one
 * attenuation of the request: policy evaluation runs it for each candidate grant and hands the
 * winner's back), run the use case's grant check, check the actor's chain against the grant's
 * max_chain_depth, then ask the store whether the workload is blocked and, for a single-use
 * token, whether this is its first use. Answers the issuance floor the credential must be stamped
 * after. Throws BrokerError; a refusal carries the facts known when it happened.
 */
export async function authorize<C>(
  deps: AuthorizeDeps,
  /** The token, with the type the caller declared (an id_token must be shaped as one); a bare string: jwt. */
  subjectToken: string | { readonly token: string; readonly type: ExternalTokenType },
  context: RequestContext,
  options: AuthorizeOptions<C> = {},
): Promise<Authorization<C>> {
  const subject =
    typeof subjectToken === "string" ? await deps.verifier.verify(subjectToken) : await deps.verifier.verify(subjectToken.token, "subject_token", subjectToken.type);
  const verified: DecisionFacts = { issuer: subject.identity.issuer, subject: subject.identity.subject };
  // The actor is verified once the subject is known good, and before any policy sees it.
  const actor = options.resolveActor && (await knowing(verified, options.resolveActor));
  // merged, not spreads: see lib/merged.ts (a spread followed by more costs a hidden class per call).
  const decided = actor ? merged(verified, actorFacts(actor)) : verified;
  const request = actor ? merged(context, { actor: actor.context, actorChain: actor.chainContexts }) : context;
  const decision = deps.policies().evaluate(subject, request, narrowWithin(options.maxLifetimeSeconds ?? Number.POSITIVE_INFINITY));
  const evaluated = merged(decided, { evaluated: decision.evaluated });
  if (!decision.allow) {
    throw withFacts(
      new BrokerError(DENIAL_CODES[decision.reason], DENIAL_DESCRIPTIONS[decision.reason], { detail: `${decision.reason}: ${decision.details.join("; ")}` }),
      // The trace joins the facts only here: an allowed request's record does not grow.
      merged(evaluated, policyTraceFacts(decision.trace)),
    );
  }
  const { grant, narrowed } = decision;
  const facts = merged(evaluated, { workloadId: grant.workloadId, policy: grant.policyId });
  const check = await knowing(facts, () => options.checkGrant?.(grant));
  const checkedFacts = check?.facts === undefined ? facts : merged(facts, check.facts);
  const granted = actor ? merged(checkedFacts, { actChainDepth: chainDepth(nestAct(actor, undefined)) }) : checkedFacts;
  const floor = await knowing(granted, async () => {
    // The chain's depth is known once the actor is verified and the grant matched: checked
    // here, before the store, so a too-long chain spends no single-use token.
    if (granted.actChainDepth !== undefined) checkChainDepth(granted.actChainDepth, grant.delegation?.maxChainDepth ?? 0);
    return admitIssuance(deps, grant, subject);
  });
  return { subject, grant, narrowed, actor, floor, checked: check?.checked, facts: granted };
}

/** The workload's budget, its block and a single-use token's first use: the store's say, last. */
function admitIssuance(deps: AuthorizeDeps, grant: Grant, subject: VerifiedSubject): Promise<IssuanceFloor> {
  const issuance = { workloadId: grant.workloadId, replay: subject.replayKey ? { key: subject.replayKey, expiresAt: subject.expiresAt } : undefined };
  return deps.admitIssuance !== undefined ? deps.admitIssuance(issuance) : admitInTurn(deps, issuance);
}
