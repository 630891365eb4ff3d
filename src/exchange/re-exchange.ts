import { merged } from "../lib/merged.js";
import { knowing, withFacts, type DecisionFacts } from "../audit/decision-facts.js";
import { ISSUED_AT_MS_CLAIM, LINEAGE_CLAIM, type AccessTokenMinter } from "../credentials/access-token.js";
import type { BrokerTokenClaims, BrokerTokenVerifier } from "../credentials/broker-token-verifier.js";
import { boundJkt, checkBinding } from "../dpop/binding.js";
import { BrokerError } from "../errors/broker-error.js";
import { epochSeconds, type Clock } from "../lib/clock.js";
import type { ClaimValue, PolicySet, RequestContext } from "../policy/types.js";
import type { AdmitWorkload } from "../authorization/rate-limit-gate.js";
import type { IssuanceChecks } from "../revocation/revocation-store.js";
import { attenuate } from "../authorization/attenuate.js";
import { DENIAL_CODES, DENIAL_DESCRIPTIONS } from "../authorization/authorize.js";
import { actOf, chainDepth, mayActOf, type ActClaim } from "../authorization/act-claim.js";
import { checkChainDepth, checkMayAct, nestAct } from "../authorization/delegation.js";
import { checkBrokerToken, mintFloor } from "../authorization/revocation-checks.js";
import { lineageFrom } from "../authorization/token-family.js";
import { requestContext, type TokenExchangeRequest } from "./token-request.js";
import { response, type TokenExchangeResponse } from "./token-response.js";
import { actorFacts, BROKER_PRINCIPAL, checkBrokerAudience, type OwnTokenAudience, type VerifiedActor } from "../authorization/verify-actor.js";

/** Claims the broker sets itself; everything else in a broker token came from a grant's extra claims. */
const REGISTERED = new Set(["iss", "sub", "aud", "exp", "nbf", "iat", ISSUED_AT_MS_CLAIM, "jti", "client_id", "scope", "act", "may_act", "delegation_policy", "cnf", LINEAGE_CLAIM]);

export interface ReExchangeResult {
  readonly response: TokenExchangeResponse;
  /** What the re-exchange established and issued, for the audit record. */
  readonly facts: DecisionFacts;
}

export interface ReExchangeOptions {
  /** Verifies the actor_token of a delegation request; undefined: no actor. */
  readonly resolveActor?: () => Promise<VerifiedActor>;
  /** Thumbprint of the request's verified DPoP proof key: the new token is bound to it (RFC 9449). */
  readonly dpopJkt?: string;
}

export type ReExchange = (request: TokenExchangeRequest, clientAddress: string, options?: ReExchangeOptions) => Promise<ReExchangeResult>;

/** What a re-exchange needs: the broker's own token verifier and minter, the store, and the delegation policies. */
export interface ReExchangeDeps {
  readonly brokerTokens: BrokerTokenVerifier;
  readonly minter: AccessTokenMinter;
  readonly revocations: IssuanceChecks;
  readonly clock: Clock;
  readonly issuer: string;
  readonly maxLifetimeSeconds: number;
  /** The policies deciding delegation; undefined: an actor_token is refused. */
  readonly policies?: () => PolicySet;
  /** The per-workload rate limit (throws 429); undefined: none. */
  readonly admitWorkload?: AdmitWorkload;
  /** "all": the subject_token's `aud` must name the broker (RFC 9068 §4); otherwise any `aud` may be narrowed. */
  readonly ownTokenAudience?: OwnTokenAudience;
}

/** The `act` chain the new token carries, with the actor who joined it (if any) and what was learnt. */
interface Chain {
  readonly act: ActClaim | undefined;
  readonly actor?: VerifiedActor;
  readonly facts: DecisionFacts;
}

/**
 * Narrows a broker-issued access token further (RFC 8693 §1.1 "downscoping"): the original's
 * audiences, scopes and remaining lifetime are the bounds. Never more, never longer. The token's
 * `act` chain, `may_act` and `delegation_policy` are kept; a DPoP-bound token needs a proof of its
 * key and stays bound.
 *
 * With an actor_token (RFC 8693 delegation), the actor joins the chain as its outermost `act`
 * when the token's `may_act` (if any) names it and the policy that granted the token
 * (`delegation_policy`) still allows delegation, its actor_condition holds for the actor and
 * every actor behind it (`identity` and `claims` are then the broker token's, `identity.issuer`
 * "broker") and the longer chain stays within its max_chain_depth.
 *
 * The new token belongs to the family of every broker token it is minted from (`lineage`) and
 * never outlives any of them, so revoking one of them revokes it.
 */
export function createReExchange(deps: ReExchangeDeps): ReExchange {
  return async (request, clientAddress, options = {}) => {
    const original = await deps.brokerTokens.verify(request.subjectToken);
    const known: DecisionFacts = { issuer: deps.issuer, subject: original.sub, workloadId: original.sub };
    const { context, chain } = await knowing(known, async () => {
      checkSubjectToken(deps, original, options.dpopJkt);
      // The same budget as the external token that earned this one: the workload id is its `sub`.
      // Charged before the actor (possibly single-use) is verified or anything is claimed.
      await deps.admitWorkload?.(original.sub);
      const context = requestContext(request, clientAddress, epochSeconds(deps.clock));
      return { context, chain: await extendChain(deps, original, context, options.resolveActor) };
    });
    const facts = merged(known, chain.facts);
    return knowing(facts, () => narrowAndMint(deps, original, context, chain, options.dpopJkt, facts));
  };
}

/** The subject token is for this broker (when required) and, when bound, proven by the request's key. */
function checkSubjectToken(deps: ReExchangeDeps, original: BrokerTokenClaims, dpopJkt: string | undefined): void {
  if (deps.ownTokenAudience === "all") checkBrokerAudience(original, deps.issuer, "subject_token");
  // RFC 9449 §5: a bound token is exchanged only with a proof of its own key (else a stolen bound
  // token would become a bearer one), and the new token is bound to the proof's key.
  checkBinding(boundJkt(original, "subject_token"), dpopJkt, "subject_token");
}

/** The token's own chain, or, with an actor_token, that chain with the actor on top once the delegation policy allows it. */
async function extendChain(
  deps: ReExchangeDeps,
  original: BrokerTokenClaims,
  context: RequestContext,
  resolveActor: (() => Promise<VerifiedActor>) | undefined,
): Promise<Chain> {
  const act = actOf(original.act);
  if (resolveActor === undefined) return { act, facts: {} };
  const actor = await resolveActor();
  const verified = actorFacts(actor);
  // RFC 8693 §4.4: a subject token naming who may act for it admits no one else.
  await knowing(verified, () => checkMayAct(mayActOf(original.may_act), actor));
  const delegationPolicy = typeof original.delegation_policy === "string" ? original.delegation_policy : undefined;
  if (delegationPolicy === undefined || deps.policies === undefined) {
    throw withFacts(
      new BrokerError("unauthorized_client", DENIAL_DESCRIPTIONS.delegation_not_granted, {
        detail: `delegation_not_granted: token ${original.jti} was not issued under a grant with delegation`,
      }),
      verified,
    );
  }
  const underPolicy = merged(verified, { policy: delegationPolicy });
  const principal = {
    identity: { issuer: BROKER_PRINCIPAL, iss: original.iss, profile: BROKER_PRINCIPAL, subject: original.sub, attributes: {} },
    claims: original,
  };
  const decision = deps.policies().delegate(delegationPolicy, principal, merged(context, { actor: actor.context, actorChain: actor.chainContexts }));
  if (!decision.allow) {
    const detail = `${decision.reason}: ${delegationPolicy}: ${decision.detail}`;
    throw withFacts(new BrokerError(DENIAL_CODES[decision.reason], DENIAL_DESCRIPTIONS[decision.reason], { detail }), underPolicy);
  }
  const extended = await knowing(underPolicy, () => nestAct(actor, act));
  const facts = merged(underPolicy, { actChainDepth: chainDepth(extended) });
  await knowing(facts, () => checkChainDepth(facts.actChainDepth, decision.delegation.maxChainDepth));
  return { act: extended, actor, facts };
}

/** The request narrowed within the token(s) it comes from, checked against revocation, then minted. */
async function narrowAndMint(
  deps: ReExchangeDeps,
  original: BrokerTokenClaims,
  context: RequestContext,
  chain: Chain,
  dpopJkt: string | undefined,
  facts: DecisionFacts,
): Promise<ReExchangeResult> {
  const { narrowed, lineage, notAfter } = narrowToSources(deps, original, context, chain);
  // Narrowing is still issuance: a revoked token or a blocked workload gets nothing new.
  const floor = await checkBrokerToken(deps.revocations, original);
  const { act } = chain;
  const mayAct = mayActOf(original.may_act);
  const delegationPolicy = typeof original.delegation_policy === "string" ? original.delegation_policy : undefined;
  const token = await deps.minter.mint({
    subject: original.sub,
    audiences: narrowed.audiences,
    scopes: narrowed.scopes,
    lifetimeSeconds: narrowed.lifetimeSeconds,
    extraClaims: extraClaims(original),
    notAfter,
    // Every member, undefined where it does not apply (the minter reads each with `!== undefined`),
    // rather than conditional spreads: one hidden class for every spec (lib/merged.ts).
    lineage,
    act,
    mayAct,
    delegationPolicy,
    dpopJkt,
    issueAfterMs: mintFloor(floor, chain.actor).issueAfterMs,
  });
  const scope = narrowed.scopes.join(" ");
  return {
    response: response(token.token, token.expiresAt - token.issuedAt, scope, dpopJkt !== undefined),
    facts: merged(facts, { jti: token.jti, exp: token.expiresAt, audience: narrowed.audiences }, scope ? { scope } : undefined, act ? { act, actChainDepth: chainDepth(act) } : undefined),
  };
}

/**
 * The request narrowed within the subject token's audiences, scopes and remaining life (and the
 * broker actor token's life): the family the new token joins and the instant it may not outlive.
 */
function narrowToSources(deps: ReExchangeDeps, original: BrokerTokenClaims, context: RequestContext, chain: Chain) {
  // The family: the new token is minted from the subject token and, when it is one, the broker
  // actor token; it never outlives either, so their revocation entries outlive it.
  const sources = chain.actor?.brokerToken === undefined ? [original] : [original, chain.actor.brokerToken];
  const lineage = lineageFrom(sources);
  const notAfter = Math.min(...sources.map((source) => source.exp));
  const bounds = {
    audiences: typeof original.aud === "string" ? [original.aud] : original.aud,
    scopes: original.scope ? original.scope.split(" ") : [],
    maxLifetimeSeconds: notAfter - context.now,
  };
  const narrowed = attenuate(bounds, context, deps.maxLifetimeSeconds);
  if (!narrowed.ok) {
    const description = narrowed.code === "invalid_scope" ? "scope exceeds the subject_token's scope" : "audience or resource exceeds the subject_token's audience";
    throw new BrokerError(narrowed.code, description, { detail: `re-exchange of ${original.jti}: ${narrowed.detail}` });
  }
  if (narrowed.lifetimeSeconds <= 0) throw new BrokerError("invalid_request", "subject_token has expired");
  return { narrowed, lineage, notAfter };
}

function extraClaims(claims: BrokerTokenClaims): Record<string, ClaimValue> {
  const extra: Record<string, ClaimValue> = {};
  for (const [name, value] of Object.entries(claims)) {
    if (!REGISTERED.has(name) && isClaimValue(value)) extra[name] = value;
  }
  return extra;
}

function isClaimValue(value: unknown): value is ClaimValue {
  return ["string", "number", "boolean"].includes(typeof value) || (Array.isArray(value) && value.every((item) => typeof item === "string"));
}
