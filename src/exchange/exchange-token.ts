import type { AuditSink, ExchangeAuditEvent } from "../audit/audit-event.js";
import { knowing, type DecisionFacts } from "../audit/decision-facts.js";
import { issuanceLog, recordDecision, type IssuanceRequestFields } from "../audit/record-decision.js";
import type { AccessTokenMinter } from "../credentials/access-token.js";
import type { JwtSvidMinter } from "../credentials/jwt-svid.js";
import { checkBinding } from "../dpop/binding.js";
import type { VerifiedDpopProof } from "../dpop/verify-proof.js";
import { BrokerError } from "../errors/broker-error.js";
import type { ExternalTokenType, SubjectTokenVerifier } from "../identity/types.js";
import { epochSeconds, type Clock } from "../lib/clock.js";
import { sha256Hex } from "../lib/hash.js";
import { merged } from "../lib/merged.js";
import type { NarrowedRequest, PolicySet, RequestContext } from "../policy/types.js";
import type { AdmitIssuance } from "../authorization/admit-issuance.js";
import type { AdmitWorkload } from "../authorization/rate-limit-gate.js";
import type { IssuanceChecks } from "../revocation/revocation-store.js";
import { authorize, type Authorization } from "../authorization/authorize.js";
import { nestAct } from "../authorization/delegation.js";
import { recordIssued } from "../authorization/issuance-record.js";
import type { RecordIssuance } from "../inventory/issuance-recorder.js";
import { checkRequireDpop, verifyRequestProof, type VerifyTokenRequestProof } from "./dpop-request.js";
import { requireKeyProof } from "../authorization/key-bound-subject.js";
import { mintFloor } from "../authorization/revocation-checks.js";
import type { ReExchange } from "./re-exchange.js";
import { lineageFrom } from "../authorization/token-family.js";
import { requestContext, type TokenExchangeRequest } from "./token-request.js";
import { TOKEN_TYPE } from "../protocol/token-types.js";
import { jwtSvidResponse, response, type TokenExchangeResponse } from "./token-response.js";
import type { VerifiedActor, VerifyActor } from "../authorization/verify-actor.js";

export interface ExchangeDeps {
  readonly verifier: SubjectTokenVerifier;
  readonly reExchange: ReExchange;
  readonly policies: () => PolicySet;
  readonly minter: AccessTokenMinter;
  /** Mints JWT-SVIDs (requested_token_type jwt); undefined: JWT-SVIDs are not issued. */
  readonly jwtSvids?: JwtSvidMinter;
  readonly audit: AuditSink;
  readonly revocations: IssuanceChecks;
  readonly clock: Clock;
  readonly maxLifetimeSeconds: number;
  /** Verifies actor_tokens (RFC 8693 delegation); undefined: an actor_token is refused. */
  readonly verifyActor?: VerifyActor;
  /** Verifies a request's DPoP proof (RFC 9449); undefined: a DPoP header is refused. */
  readonly verifyDpopProof?: VerifyTokenRequestProof;
  /** The per-workload rate limit, checked once the subject is verified and a policy matched. */
  readonly admitWorkload?: AdmitWorkload;
  /** The store's checks and the workload's charge in one round trip, where the store can (authorize.ts). */
  readonly admitIssuance?: AdmitIssuance | undefined;
  /** Tells the workload inventory of each credential issued, without waiting; undefined: no inventory. */
  readonly recordIssuance?: RecordIssuance;
}

export interface ExchangeCall {
  readonly request: TokenExchangeRequest;
  readonly requestId: string;
  readonly clientAddress: string;
  /** The `DPoP` header, when the request has one: the issued token is then bound to its key. */
  readonly dpopProof?: string;
}

/** One exchange's answer, with what it established for the audit record. */
interface Exchanged {
  readonly response: TokenExchangeResponse;
  readonly facts: DecisionFacts;
}

/** What the first steps established, for the steps that follow. */
interface Prepared {
  readonly call: ExchangeCall;
  /** The request as policies see it. */
  readonly context: RequestContext;
  /** Verifies the actor_token once the subject token is known good; undefined: no actor_token. */
  readonly resolveActor: (() => Promise<VerifiedActor>) | undefined;
  readonly dpop: VerifiedDpopProof | undefined;
  /** What is known so far, for the audit record. */
  readonly known: DecisionFacts;
}

/**
 * The token exchange (RFC 8693): verify who is asking, decide by policy (deny by default),
 * narrow the grant to the request, mint a minutes-long credential, and record the decision.
 */
export function createExchangeToken(deps: ExchangeDeps) {
  return async function exchangeToken(call: ExchangeCall): Promise<TokenExchangeResponse> {
    const exchanged = await recordDecision(deps.audit, issuanceLog<Exchanged>(requestFields(call)), () => exchange(deps, call));
    // After the answer is made and off its path: the inventory is statistics (issuance-recorder.ts).
    const { request } = call;
    const underPolicy = request.subjectTokenType !== TOKEN_TYPE.accessToken;
    recordIssued(deps.recordIssuance, exchanged.facts, { tokenType: request.requestedTokenType, nowMs: deps.clock.now(), underPolicy });
    return exchanged.response;
  };
}

/**
 * The steps of one exchange: check the proof of possession, read the request, resolve the actor,
 * then re-exchange a broker token, or exchange an external one for an access token or a JWT-SVID.
 */
async function exchange(deps: ExchangeDeps, call: ExchangeCall): Promise<Exchanged> {
  const { request } = call;
  const dpop = call.dpopProof === undefined ? undefined : await verifyRequestProof(deps.verifyDpopProof, call.dpopProof, request);
  const known: DecisionFacts = dpop ? { dpopJkt: dpop.jkt } : {};
  return knowing(known, () => {
    const context = requestContext(request, call.clientAddress, epochSeconds(deps.clock));
    const prepared = { call, context, resolveActor: actorResolver(deps, request, context, dpop), dpop, known };
    const { subjectTokenType } = request;
    if (subjectTokenType === TOKEN_TYPE.accessToken) return reExchangeBrokerToken(deps, prepared);
    return exchangeExternal(deps, prepared, { token: request.subjectToken, type: subjectTokenType });
  });
}

/** What the audit record takes from the request itself: digests of the tokens, never the tokens. */
function requestFields(call: ExchangeCall): IssuanceRequestFields<ExchangeAuditEvent> {
  const { request } = call;
  const fields = {
    event: "token_exchange" as const,
    requestId: call.requestId,
    subjectTokenType: request.subjectTokenType,
    subjectTokenSha256: sha256Hex(request.subjectToken),
    requestedTokenType: request.requestedTokenType,
    clientAddress: call.clientAddress,
  };
  // merged only with an actor token, not a spread on every call (lib/merged.ts).
  return request.actorToken ? merged(fields, { actorTokenType: request.actorToken.type, actorTokenSha256: sha256Hex(request.actorToken.token) }) : fields;
}

/**
 * The actor_token of a delegation request (RFC 8693 §2.1), verified later, once the subject is:
 * an actor token bound to a key is usable only with a proof by that key.
 */
function actorResolver(deps: ExchangeDeps, request: TokenExchangeRequest, context: RequestContext, dpop: VerifiedDpopProof | undefined): Prepared["resolveActor"] {
  const { actorToken } = request;
  if (actorToken === undefined) return undefined;
  const { verifyActor } = deps;
  if (verifyActor === undefined) throw new BrokerError("invalid_request", "delegation (actor_token) is not supported by this broker");
  // A JWT-SVID has no place for `act`: a delegated credential is always an access token.
  if (request.requestedTokenType === "jwt") {
    throw new BrokerError("invalid_request", "a JWT-SVID (requested_token_type jwt) cannot be delegated: omit actor_token");
  }
  return async () => {
    const actor = await verifyActor(actorToken.token, actorToken.type, context);
    await knowing({ actorWorkloadId: actor.workloadId }, () => checkBinding(actor.boundJkt, dpop?.jkt, "actor_token"));
    return actor;
  };
}

/** A broker access token narrowed further (RFC 8693 §1.1), or extended by an actor. */
async function reExchangeBrokerToken(deps: ExchangeDeps, { call, resolveActor, dpop, known }: Prepared): Promise<Exchanged> {
  // A broker token carries no SPIFFE ID: a JWT-SVID comes from the workload's own token only.
  if (call.request.requestedTokenType === "jwt") {
    throw new BrokerError("invalid_request", "a JWT-SVID (requested_token_type jwt) is issued for an external subject_token only");
  }
  const issued = await deps.reExchange(call.request, call.clientAddress, { resolveActor, ...(dpop ? { dpopJkt: dpop.jkt } : {}) });
  return { response: issued.response, facts: merged(known, { reason: "re-exchange of a broker token" }, issued.facts) };
}

/** An external subject token, decided by policy, for an access token or a JWT-SVID. */
async function exchangeExternal(deps: ExchangeDeps, prepared: Prepared, subjectToken: { readonly token: string; readonly type: ExternalTokenType }): Promise<Exchanged> {
  const { call, dpop, known } = prepared;
  const { request } = call;
  // JWT-SVIDs carry no scope (JWT-SVID §3): asking for one is a mistake worth naming.
  if (request.requestedTokenType === "jwt" && request.scopes.length > 0) {
    throw new BrokerError("invalid_scope", "a JWT-SVID carries no scope: omit scope with requested_token_type jwt");
  }
  if (request.requestedTokenType === "jwt" && deps.jwtSvids === undefined) {
    throw new BrokerError("invalid_request", "this broker does not issue JWT-SVIDs");
  }
  const authorization = await authorize(
    // A subject token bound to a key (cnf) is usable only with a proof by that key. (Named, not
    // `{ ...deps, verifier }`: a spread followed by a property costs a hidden class per call, lib/merged.ts.)
    { verifier: requireKeyProof(deps.verifier, dpop?.jkt), policies: deps.policies, revocations: deps.revocations, admitWorkload: deps.admitWorkload, admitIssuance: deps.admitIssuance },
    subjectToken,
    prepared.context,
    { resolveActor: prepared.resolveActor, checkGrant: (grant) => checkRequireDpop(grant, dpop), maxLifetimeSeconds: deps.maxLifetimeSeconds },
  );
  const facts = merged(known, authorization.facts);
  return knowing(facts, () => (request.requestedTokenType === "jwt" ? mintJwtSvid(deps, authorization, facts) : mintAccessToken(deps, authorization, dpop, facts)));
}

/** A JWT-SVID for the grant's SPIFFE ID: no scope, no `act`, no `cnf` (JWT-SVID §3). */
async function mintJwtSvid(deps: ExchangeDeps, authorization: Authorization<unknown>, facts: DecisionFacts): Promise<Exchanged> {
  const { grant } = authorization;
  const narrowed = narrowedOf(authorization);
  // The grant schema requires a SPIFFE ID wherever jwt is granted; policy evaluation computed it.
  if (grant.spiffeId === undefined || deps.jwtSvids === undefined) throw new Error(`policy ${grant.policyId} granted jwt without a SPIFFE ID`);
  const token = await deps.jwtSvids.mint({
    spiffeId: grant.spiffeId,
    audiences: narrowed.audiences,
    lifetimeSeconds: narrowed.lifetimeSeconds,
    extraClaims: grant.extraClaims,
  });
  return {
    response: jwtSvidResponse(token.token, token.expiresAt - token.issuedAt),
    facts: merged(facts, { jti: token.jti, exp: token.expiresAt, audience: narrowed.audiences, spiffeId: grant.spiffeId }),
  };
}

/** An access token (RFC 9068) for the grant's workload, with the actor's chain and the request's key binding. */
async function mintAccessToken(deps: ExchangeDeps, authorization: Authorization<unknown>, dpop: VerifiedDpopProof | undefined, facts: DecisionFacts): Promise<Exchanged> {
  const { grant, actor, floor } = authorization;
  const narrowed = narrowedOf(authorization);
  // The subject is external: its chain starts here (an external token's own `act` is not
  // carried), with the actors behind a delegated broker actor token nested under it.
  // (Its depth was checked against the grant before the store, in authorize.)
  const act = actor === undefined ? undefined : nestAct(actor, undefined);
  // A broker actor token makes the new token a member of its family, and its end is the new token's limit.
  const actorToken = actor?.brokerToken;
  const lineage = actorToken === undefined ? undefined : lineageFrom([actorToken]);
  // One literal with every member, undefined where it does not apply (the minter reads each with
  // `!== undefined`), rather than conditional spreads: one hidden class for every spec (lib/merged.ts).
  const token = await deps.minter.mint({
    subject: grant.workloadId,
    audiences: narrowed.audiences,
    scopes: narrowed.scopes,
    lifetimeSeconds: narrowed.lifetimeSeconds,
    extraClaims: grant.extraClaims,
    act,
    lineage,
    notAfter: actorToken?.exp,
    mayAct: grant.delegation?.mayAct,
    delegationPolicy: grant.delegation ? grant.policyId : undefined,
    dpopJkt: dpop?.jkt,
    issueAfterMs: mintFloor(floor, actor).issueAfterMs,
  });
  const scope = narrowed.scopes.join(" ");
  return {
    response: response(token.token, token.expiresAt - token.issuedAt, scope, dpop !== undefined),
    // merged, not spreads: one hidden class per shape of facts (lib/merged.ts).
    facts: merged(facts, act ? { act } : undefined, { jti: token.jti, exp: token.expiresAt, audience: narrowed.audiences }, scope ? { scope } : undefined),
  };
}

/** The request narrowed to the grant: policy evaluation computed it for every token type but an X.509-SVID. */
function narrowedOf(authorization: Authorization<unknown>): NarrowedRequest {
  if (authorization.narrowed === undefined) throw new Error(`policy ${authorization.grant.policyId} granted without narrowing the request`);
  return authorization.narrowed;
}

export type ExchangeToken = ReturnType<typeof createExchangeToken>;
