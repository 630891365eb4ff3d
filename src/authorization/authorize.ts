import type { ActChain } from "../audit/audit-event.js";
import { BrokerError, type BrokerErrorCode } from "../errors/broker-error.js";
import type { ExternalTokenType, SubjectTokenVerifier, VerifiedSubject } from "../identity/types.js";
import type { DenialReason, Grant, PolicySet, PrincipalContext, RequestContext } from "../policy/types.js";
import type { AdmitWorkload } from "./rate-limit-gate.js";
import type { IssuanceChecks } from "../revocation/revocation-store.js";
import { checkIssuance, type IssuanceFloor } from "./revocation-checks.js";

export interface AuthorizeDeps {
  readonly verifier: SubjectTokenVerifier;
  readonly policies: () => PolicySet;
  readonly revocations: IssuanceChecks;
  /** The per-workload rate limit (throws 429); undefined: none. */
  readonly admitWorkload?: AdmitWorkload;
}

/** What is known about the caller so far, for the audit record of a denial. Filled in as the checks pass. */
export interface AuthorizationTrace {
  issuer?: string;
  subject?: string;
  evaluated?: readonly string[];
  workloadId?: string;
  policy?: string;
  /** The verified actor of a delegation request. */
  actor?: { readonly sub: string; readonly iss?: string };
  /** The workload the actor is (its broker token's `sub`, or what policy maps its external token to). */
  actorWorkloadId?: string;
  /** Length of the `act` chain of the token issued (or refused). */
  actChainDepth?: number;
  /** The whole `act` chain of the token issued. */
  act?: ActChain;
  /** RFC 7638 thumbprint of the request's verified DPoP proof key (the issued token's `cnf.jkt`). */
  dpopJkt?: string;
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

/**
 * The checks every issuance shares (/token and /svid/x509): verify the subject token, decide by
 * policy (deny by default; an actor, when `resolveActor` is given, is verified after the subject
 * and seen by the policy as `actor`), then ask the store whether the workload is blocked and, for a
 * single-use token, whether this is its first use. Answers the issuance floor the credential must
 * be stamped after. Throws BrokerError; fills `trace` as it goes.
 */
export async function authorize(
  deps: AuthorizeDeps,
  /** The token, with the type the caller declared (an id_token must be shaped as one); a bare string: jwt. */
  subjectToken: string | { readonly token: string; readonly type: ExternalTokenType },
  context: RequestContext,
  trace: AuthorizationTrace,
  resolveActor?: () => Promise<{ readonly actor: PrincipalContext; readonly actorChain: readonly PrincipalContext[] }>,
  /**
   * A check of the grant before the store (e.g. require_dpop, a CSR's proof of possession): it
   * runs once the subject token is verified and a policy matched, and a refusal spends no
   * single-use token and no rate-limit budget.
   */
  checkGrant?: (grant: Grant) => void | Promise<void>,
): Promise<{ subject: VerifiedSubject; grant: Grant; floor: IssuanceFloor }> {
  const subject =
    typeof subjectToken === "string" ? await deps.verifier.verify(subjectToken) : await deps.verifier.verify(subjectToken.token, "subject_token", subjectToken.type);
  trace.issuer = subject.identity.issuer;
  trace.subject = subject.identity.subject;
  // The actor is verified once the subject is known good, and before any policy sees it.
  const decision = deps.policies().evaluate(subject, resolveActor ? { ...context, ...(await resolveActor()) } : context);
  trace.evaluated = decision.evaluated;
  if (!decision.allow) {
    throw new BrokerError(DENIAL_CODES[decision.reason], DENIAL_DESCRIPTIONS[decision.reason], {
      detail: `${decision.reason}: ${decision.details.join("; ")}`,
    });
  }
  const { grant } = decision;
  trace.workloadId = grant.workloadId;
  trace.policy = grant.policyId;
  await checkGrant?.(grant);
  const issuance = { workloadId: grant.workloadId, replay: subject.replayKey ? { key: subject.replayKey, expiresAt: subject.expiresAt } : undefined };
  let floor: IssuanceFloor;
  if (deps.admitWorkload === undefined) {
    floor = await checkIssuance(deps.revocations, issuance);
  } else if (issuance.replay !== undefined) {
    // The limit first: a refused request must not use up a single-use subject token.
    await deps.admitWorkload(grant.workloadId);
    floor = await checkIssuance(deps.revocations, issuance);
  } else {
    // Nothing single-use at stake: both in one round trip. A block or a store outage outranks the limit.
    const [limit, store] = await Promise.allSettled([deps.admitWorkload(grant.workloadId), checkIssuance(deps.revocations, issuance)]);
    if (store.status === "rejected") throw store.reason;
    if (limit.status === "rejected") throw limit.reason;
    floor = store.value;
  }
  return { subject, grant, floor };
}
