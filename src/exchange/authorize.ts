import { BrokerError, type BrokerErrorCode } from "../errors.js";
import type { SubjectTokenVerifier, VerifiedSubject } from "../identity/types.js";
import type { DenialReason, Grant, PolicySet, RequestContext } from "../policy/types.js";
import type { RevocationStore } from "../revocation/revocation-store.js";
import { checkIssuance } from "./revocation-checks.js";

export interface AuthorizeDeps {
  readonly verifier: SubjectTokenVerifier;
  readonly policies: () => PolicySet;
  readonly revocations: RevocationStore;
}

/** What is known about the caller so far, for the audit record of a denial. Filled in as the checks pass. */
export interface AuthorizationTrace {
  issuer?: string;
  subject?: string;
  evaluated?: readonly string[];
  workloadId?: string;
  policy?: string;
}

export const DENIAL_CODES: Record<DenialReason, BrokerErrorCode> = {
  no_matching_policy: "unauthorized_client",
  target_not_granted: "invalid_target",
  scope_not_granted: "invalid_scope",
  token_type_not_granted: "invalid_request",
};

export const DENIAL_DESCRIPTIONS: Record<DenialReason, string> = {
  no_matching_policy: "no policy grants a credential to this identity",
  target_not_granted: "the requested audience or resource is not granted to this identity",
  scope_not_granted: "the requested scope is not granted to this identity",
  token_type_not_granted: "the requested_token_type is not granted to this identity",
};

/**
 * The checks every issuance shares (/token and /svid/x509): verify the subject token, decide by
 * policy (deny by default), then ask the store whether the workload is blocked and, for a
 * single-use token, whether this is its first use. Throws BrokerError; fills `trace` as it goes.
 */
export async function authorize(
  deps: AuthorizeDeps,
  subjectToken: string,
  context: RequestContext,
  trace: AuthorizationTrace,
): Promise<{ subject: VerifiedSubject; grant: Grant }> {
  const subject = await deps.verifier.verify(subjectToken);
  trace.issuer = subject.identity.issuer;
  trace.subject = subject.identity.subject;
  const decision = deps.policies().evaluate(subject, context);
  trace.evaluated = decision.evaluated;
  if (!decision.allow) {
    throw new BrokerError(DENIAL_CODES[decision.reason], DENIAL_DESCRIPTIONS[decision.reason], {
      detail: `${decision.reason}: ${decision.details.join("; ")}`,
    });
  }
  const { grant } = decision;
  trace.workloadId = grant.workloadId;
  trace.policy = grant.policyId;
  await checkIssuance(deps.revocations, {
    workloadId: grant.workloadId,
    replay: subject.replayKey ? { key: subject.replayKey, expiresAt: subject.expiresAt } : undefined,
  });
  return { subject, grant };
}
