import { knowing, type DecisionFacts } from "../audit/decision-facts.js";
import type { BrokerTokenClaims, BrokerTokenVerifier } from "../credentials/broker-token-verifier.js";
import { boundJkt, externalBoundJkt } from "../dpop/binding.js";
import { BrokerError } from "../errors/broker-error.js";
import type { ExternalTokenType, SubjectTokenVerifier, VerifiedSubject } from "../identity/types.js";
import { sha256Hex } from "../lib/hash.js";
import type { PolicySet, PrincipalContext, RequestContext } from "../policy/types.js";
import type { AdmitWorkload } from "./rate-limit-gate.js";
import type { IssuanceChecks } from "../revocation/revocation-store.js";
import { guard } from "../revocation/store-guard.js";
import { actOf, type ActClaim } from "./act-claim.js";
import { checkBrokerToken } from "./revocation-checks.js";
import { TOKEN_TYPE, type SubjectTokenType } from "../protocol/token-types.js";

/** An actor_token that passed every check a subject token would. */
export interface VerifiedActor {
  /** What policies see as `actor`. */
  readonly context: PrincipalContext;
  /** Who the issued token names as its current actor. */
  readonly act: { readonly sub: string; readonly iss?: string };
  /**
   * The actor token's own `act` chain (a delegated broker token as actor_token): the actors
   * behind this one, nested under it in the issued token (RFC 8693 §4.1).
   */
  readonly chain?: ActClaim;
  /** The actors of `chain` as policies see them, outermost first: the grant's actor_condition must hold for each. */
  readonly chainContexts: readonly PrincipalContext[];
  /** The workload the actor is: a broker token's `sub`, or what policy maps an external actor to. */
  readonly workloadId: string;
  /** The claims of an actor_token that is a broker token: the issued token joins its family and never outlives it. */
  readonly brokerToken?: BrokerTokenClaims;
  readonly tokenType: SubjectTokenType;
  /** RFC 9449 `cnf.jkt` of an actor_token that is a DPoP-bound broker token: the request's proof must use that key. */
  readonly boundJkt?: string;
  /** The latest workload revocation cutoff its checks read: the issued token is stamped after it. */
  readonly issueAfterMs?: number;
}

/**
 * Verifies an actor_token; `context` is the request as policies see it (for mapping an external
 * actor to its workload). A refusal once the actor's workload is known carries it
 * (`actorWorkloadId`), for the audit record.
 */
export type VerifyActor = (token: string, type: SubjectTokenType, context: RequestContext) => Promise<VerifiedActor>;

/** Identity issuer id of an actor proven by a broker access token (`actor.identity.issuer`). */
export const BROKER_PRINCIPAL = "broker";

/** Which broker access tokens must name the broker in `aud` to be used again (RFC 9068 §4). */
export type OwnTokenAudience = "actor_token" | "all" | "any";

/** A configured issuer, as a nested actor's `iss` names it. */
export type DescribeIssuer = (iss: string) => { readonly id: string; readonly profile: string } | undefined;

/** What verifying an actor needs: both token verifiers, the store, the policies (to map an external actor) and the budget. */
export interface VerifyActorDeps {
  readonly verifier: SubjectTokenVerifier;
  readonly brokerTokens: BrokerTokenVerifier;
  readonly revocations: IssuanceChecks;
  readonly policies: () => PolicySet;
  /** The broker's issuer URL: the `aud` a broker token needs to act (RFC 9068 §4). */
  readonly issuer: string;
  readonly ownTokenAudience: OwnTokenAudience;
  readonly admitWorkload?: AdmitWorkload;
  readonly describeIssuer?: DescribeIssuer;
}

/**
 * Verifies an actor_token by the rules of a subject token, and maps it to a workload that must
 * be allowed to act now:
 * - an external JWT: trusted issuer, signature and time checks; then the first policy whose
 *   condition holds names its workload (none: refused); that workload's rate-limit budget is
 *   charged; it must not be blocked, nor revoked at or after the token's `iat`; a single-use
 *   issuer's token is claimed once. Block, revocation and claim share one store round trip.
 * - an access token of this broker: intact, alive, `aud` naming the broker (unless
 *   BROKER_OWN_TOKEN_AUDIENCE=any), not revoked (family included), its workload not blocked and
 *   its budget charged. Its own `act` chain comes along, nested under it.
 * Throws BrokerError.
 */
export function createVerifyActor(deps: VerifyActorDeps): VerifyActor {
  return async (token, type, context) => {
    if (type === TOKEN_TYPE.accessToken) return verifyBrokerActor(deps, token);
    return verifyExternalActor(deps, token, type, context);
  };
}

/** What the audit record learns from a verified actor: who it is and which workload. */
export function actorFacts(actor: VerifiedActor): DecisionFacts {
  return { actorWorkloadId: actor.workloadId, actor: actor.act };
}

async function verifyBrokerActor(deps: VerifyActorDeps, token: string): Promise<VerifiedActor> {
  const claims = await deps.brokerTokens.verify(token, "actor_token");
  const { issueAfterMs } = await knowing({ actorWorkloadId: claims.sub }, async () => {
    if (deps.ownTokenAudience !== "any") checkBrokerAudience(claims, deps.issuer, "actor_token");
    await deps.admitWorkload?.(claims.sub);
    return checkBrokerToken(deps.revocations, claims, "actor_token");
  });
  const chain = actOf(claims.act);
  return {
    context: {
      identity: { issuer: BROKER_PRINCIPAL, iss: claims.iss, profile: BROKER_PRINCIPAL, subject: claims.sub, attributes: {} },
      claims,
    },
    act: { sub: claims.sub },
    ...(chain ? { chain } : {}),
    chainContexts: chainContexts(chain, deps.issuer, deps.describeIssuer),
    workloadId: claims.sub,
    brokerToken: claims,
    tokenType: TOKEN_TYPE.accessToken,
    ...optionalJkt(boundJkt(claims, "actor_token")),
    ...(issueAfterMs === undefined ? {} : { issueAfterMs }),
  };
}

async function verifyExternalActor(deps: VerifyActorDeps, token: string, type: ExternalTokenType, context: RequestContext): Promise<VerifiedActor> {
  const actor = await deps.verifier.verify(token, "actor_token", type);
  // A key-bound external actor token (RFC 7800 cnf): its binding is read before anything is
  // claimed, and the request's proof is checked against it by the caller, as for a bound broker token.
  const actorJkt = externalBoundJkt(actor.claims, "actor_token");
  // An actor is a workload like any subject: blocks, revocations and budgets must reach it.
  const mapped = deps.policies().identify(actor, { ...context, actor: undefined });
  if (mapped === undefined) {
    throw new BrokerError("unauthorized_client", "the actor is not a workload any policy names", {
      detail: `actor_not_allowed: no policy condition holds for actor ${actor.identity.subject} of ${actor.identity.issuer}`,
    });
  }
  const issueAfterMs = await knowing({ actorWorkloadId: mapped.workloadId }, async () => {
    await deps.admitWorkload?.(mapped.workloadId);
    return checkExternalActor(deps.revocations, actor, mapped.workloadId, token);
  });
  return {
    context: { identity: actor.identity, claims: actor.claims },
    act: { sub: actor.identity.subject, iss: actor.identity.iss },
    chainContexts: [],
    workloadId: mapped.workloadId,
    tokenType: type,
    ...optionalJkt(actorJkt),
    ...(issueAfterMs === undefined ? {} : { issueAfterMs }),
  };
}

/**
 * One round trip: the workload is not blocked nor revoked since this token, and a single-use
 * token is used once. Answers the cutoff read (the issued token is stamped after it).
 */
async function checkExternalActor(revocations: IssuanceChecks, actor: VerifiedSubject, workloadId: string, token: string): Promise<number | undefined> {
  // An external token has no broker jti: its digest stands in, so no revoked broker jti can match
  // it. Its `iat` is the identity provider's whole second: compared inclusively (no precise stamp).
  const ref = { jti: `actor:${sha256Hex(token)}`, sub: workloadId, iat: actor.issuedAt ?? 0 };
  const [block, { cause: revoked, latestCutoffMs }, firstUse] = await guard(
    Promise.all([
      revocations.activeBlock(workloadId),
      revocations.tokenRevocation(ref),
      actor.replayKey === undefined ? true : revocations.claimOnce(actor.replayKey, actor.expiresAt),
    ]),
  );
  if (block) {
    throw new BrokerError("unauthorized_client", "the actor's workload is blocked", {
      detail: `actor workload ${workloadId} blocked by ${block.actor}: ${block.reason}`,
    });
  }
  if (revoked !== undefined) {
    throw new BrokerError("invalid_request", "actor_token has been revoked", {
      detail: `actor workload ${workloadId} was revoked at or after the actor_token's iat`,
    });
  }
  if (!firstUse) throw new BrokerError("invalid_request", "actor_token was already used", { detail: `replay of ${actor.replayKey}` });
  return latestCutoffMs;
}

/** RFC 9068 §4: a broker token is accepted by the broker itself only when its `aud` names the broker. */
export function checkBrokerAudience(claims: BrokerTokenClaims, issuer: string, label: "subject_token" | "actor_token"): void {
  const audiences = typeof claims.aud === "string" ? [claims.aud] : claims.aud;
  if (!audiences.includes(issuer)) {
    throw new BrokerError("invalid_request", `${label} is not meant for this broker (its aud does not name the broker)`, {
      detail: `token ${claims.jti} of ${claims.sub}: aud lacks ${issuer}`,
    });
  }
}

/**
 * The actors nested in an actor token's chain, as policies see them: only what `act` records.
 * A broker actor (no `iss`) is a workload of this broker; an external one is named by its
 * configured issuer (empty when that issuer is no longer configured). No attributes, no claims:
 * a condition reading them does not hold for a nested actor.
 */
function chainContexts(chain: ActClaim | undefined, brokerIssuer: string, describeIssuer?: DescribeIssuer): PrincipalContext[] {
  const found: PrincipalContext[] = [];
  for (let entry = chain; entry !== undefined; entry = entry.act) {
    const issuer = entry.iss === undefined ? { id: BROKER_PRINCIPAL, profile: BROKER_PRINCIPAL } : describeIssuer?.(entry.iss) ?? { id: "", profile: "" };
    found.push({
      identity: { issuer: issuer.id, iss: entry.iss ?? brokerIssuer, profile: issuer.profile, subject: entry.sub, attributes: {} },
      claims: {},
    });
  }
  return found;
}

function optionalJkt(jkt: string | undefined): { boundJkt?: string } {
  return jkt === undefined ? {} : { boundJkt: jkt };
}
