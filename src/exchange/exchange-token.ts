import { denialOf, type AuditSink } from "../audit/audit-event.js";
import type { AccessTokenMinter, IssuedToken } from "../credentials/access-token.js";
import type { JwtSvidMinter } from "../credentials/jwt-svid.js";
import { checkBinding } from "../dpop/binding.js";
import { BrokerError } from "../errors/broker-error.js";
import type { SubjectTokenVerifier } from "../identity/types.js";
import { epochSeconds, type Clock } from "../lib/clock.js";
import { sha256Hex } from "../lib/hash.js";
import type { PolicySet } from "../policy/types.js";
import type { AdmitWorkload } from "../authorization/rate-limit-gate.js";
import type { IssuanceChecks } from "../revocation/revocation-store.js";
import { attenuate } from "../authorization/attenuate.js";
import { authorize, DENIAL_DESCRIPTIONS, type AuthorizationTrace } from "../authorization/authorize.js";
import { chainDepth } from "../authorization/act-claim.js";
import { checkChainDepth, nestAct } from "../authorization/delegation.js";
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
}

export interface ExchangeCall {
  readonly request: TokenExchangeRequest;
  readonly requestId: string;
  readonly clientAddress: string;
  /** The `DPoP` header, when the request has one: the issued token is then bound to its key. */
  readonly dpopProof?: string;
}

/**
 * The token exchange (RFC 8693): verify who is asking, decide by policy (deny by default),
 * narrow the grant to the request, mint a minutes-long credential, and record the decision.
 */
export function createExchangeToken(deps: ExchangeDeps) {
  return async function exchangeToken(call: ExchangeCall): Promise<TokenExchangeResponse> {
    const { request } = call;
    const base = {
      event: "token_exchange",
      requestId: call.requestId,
      subjectTokenType: request.subjectTokenType,
      subjectTokenSha256: sha256Hex(request.subjectToken),
      requestedTokenType: request.requestedTokenType,
      clientAddress: call.clientAddress,
      ...(request.actorToken
        ? { actorTokenType: request.actorToken.type, actorTokenSha256: sha256Hex(request.actorToken.token) }
        : {}),
    } as const;
    // What is known about the caller so far, for the audit record of a denial.
    const known: AuthorizationTrace = {};
    try {
      const dpop = call.dpopProof === undefined ? undefined : await verifyRequestProof(deps.verifyDpopProof, call.dpopProof, request, known);
      const { actorToken } = request;
      const context = requestContext(request, call.clientAddress, epochSeconds(deps.clock));
      let resolveActor: (() => Promise<VerifiedActor>) | undefined;
      let actor: VerifiedActor | undefined;
      if (actorToken !== undefined) {
        const { verifyActor } = deps;
        if (verifyActor === undefined) throw new BrokerError("invalid_request", "delegation (actor_token) is not supported by this broker");
        // A JWT-SVID has no place for `act`: a delegated credential is always an access token.
        if (request.requestedTokenType === "jwt") {
          throw new BrokerError("invalid_request", "a JWT-SVID (requested_token_type jwt) cannot be delegated: omit actor_token");
        }
        resolveActor = async () => {
          actor = await verifyActor(actorToken.token, actorToken.type, context, known);
          checkBinding(actor.boundJkt, dpop?.jkt, "actor_token");
          known.actor = actor.act;
          return actor;
        };
      }
      if (request.subjectTokenType === TOKEN_TYPE.accessToken) {
        // A broker token carries no SPIFFE ID: a JWT-SVID comes from the workload's own token only.
        if (request.requestedTokenType === "jwt") {
          throw new BrokerError("invalid_request", "a JWT-SVID (requested_token_type jwt) is issued for an external subject_token only");
        }
        const issued = await deps.reExchange(request, call.clientAddress, { resolveActor, trace: known, ...(dpop ? { dpopJkt: dpop.jkt } : {}) });
        deps.audit.record({ ...base, decision: "allow", reason: "re-exchange of a broker token", ...issued.audit, ...(dpop ? { dpopJkt: dpop.jkt } : {}) });
        return issued.response;
      }
      // JWT-SVIDs carry no scope (JWT-SVID §3): asking for one is a mistake worth naming.
      if (request.requestedTokenType === "jwt" && request.scopes.length > 0) {
        throw new BrokerError("invalid_scope", "a JWT-SVID carries no scope: omit scope with requested_token_type jwt");
      }
      if (request.requestedTokenType === "jwt" && deps.jwtSvids === undefined) {
        throw new BrokerError("invalid_request", "this broker does not issue JWT-SVIDs");
      }

      const { grant, floor } = await authorize(
        // A subject token bound to a key (cnf) is usable only with a proof by that key.
        { ...deps, verifier: requireKeyProof(deps.verifier, dpop?.jkt) },
        { token: request.subjectToken, type: request.subjectTokenType },
        context,
        known,
        resolveActor &&
          (async () => {
            const verified = await resolveActor();
            return { actor: verified.context, actorChain: verified.chainContexts };
          }),
        (granted) => {
          checkRequireDpop(granted, dpop);
          // The chain's depth is known once the actor is verified and the grant matched: checked
          // here, before the store, so a too-long chain spends no single-use token.
          if (actor !== undefined) {
            known.actChainDepth = chainDepth(nestAct(actor, undefined));
            checkChainDepth(known.actChainDepth, granted.delegation?.maxChainDepth ?? 0);
          }
        },
      );
      const narrowed = attenuate(grant, context, deps.maxLifetimeSeconds);
      if (!narrowed.ok) {
        const reason = narrowed.code === "invalid_scope" ? "scope_not_granted" : "target_not_granted";
        throw new BrokerError(narrowed.code, DENIAL_DESCRIPTIONS[reason], { detail: narrowed.detail });
      }

      let token: IssuedToken;
      let scope = "";
      if (request.requestedTokenType === "jwt") {
        // The grant schema requires a SPIFFE ID wherever jwt is granted; policy evaluation computed it.
        if (grant.spiffeId === undefined || deps.jwtSvids === undefined) throw new Error(`policy ${grant.policyId} granted jwt without a SPIFFE ID`);
        token = await deps.jwtSvids.mint({
          spiffeId: grant.spiffeId,
          audiences: narrowed.audiences,
          lifetimeSeconds: narrowed.lifetimeSeconds,
          extraClaims: grant.extraClaims,
        });
      } else {
        // The subject is external: its chain starts here (an external token's own `act` is not
        // carried), with the actors behind a delegated broker actor token nested under it.
        // (Its depth was checked against the grant before the store, in authorize's grant check.)
        const act = actor === undefined ? undefined : nestAct(actor, undefined);
        // A broker actor token makes the new token a member of its family, and its end is the new token's limit.
        const actorToken = actor?.brokerToken;
        const lineage = actorToken === undefined ? undefined : lineageFrom([actorToken]);
        token = await deps.minter.mint({
          subject: grant.workloadId,
          audiences: narrowed.audiences,
          scopes: narrowed.scopes,
          lifetimeSeconds: narrowed.lifetimeSeconds,
          extraClaims: grant.extraClaims,
          ...(act ? { act } : {}),
          ...(lineage ? { lineage, notAfter: actorToken?.exp } : {}),
          ...(grant.delegation?.mayAct ? { mayAct: grant.delegation.mayAct } : {}),
          ...(grant.delegation ? { delegationPolicy: grant.policyId } : {}),
          ...(dpop ? { dpopJkt: dpop.jkt } : {}),
          ...mintFloor(floor, actor),
        });
        if (act !== undefined) known.act = act;
        scope = narrowed.scopes.join(" ");
      }
      deps.audit.record({
        ...base,
        ...known,
        decision: "allow",
        jti: token.jti,
        exp: token.expiresAt,
        audience: narrowed.audiences,
        ...(request.requestedTokenType === "jwt" ? { spiffeId: grant.spiffeId } : {}),
        ...(scope ? { scope } : {}),
      });
      const expiresIn = token.expiresAt - token.issuedAt;
      return request.requestedTokenType === "jwt" ? jwtSvidResponse(token.token, expiresIn) : response(token.token, expiresIn, scope, dpop !== undefined);
    } catch (error) {
      deps.audit.record({
        ...base,
        ...known,
        decision: "deny",
        ...denialOf(error),
      });
      throw error;
    }
  };
}

export type ExchangeToken = ReturnType<typeof createExchangeToken>;
