import type { AuditSink, ExchangeAuditEvent } from "../audit/audit-event.js";
import type { AccessTokenMinter } from "../credentials/access-token.js";
import { BrokerError, type BrokerErrorCode } from "../errors.js";
import type { SubjectTokenVerifier } from "../identity/types.js";
import { epochSeconds, type Clock } from "../lib/clock.js";
import { sha256Hex } from "../lib/hash.js";
import type { DenialReason, PolicySet } from "../policy/types.js";
import type { RevocationStore } from "../revocation/revocation-store.js";
import { attenuate } from "./attenuate.js";
import { checkIssuance } from "./revocation-checks.js";
import type { ReExchange } from "./re-exchange.js";
import { requestContext, type TokenExchangeRequest } from "./token-request.js";
import { TOKEN_TYPE } from "./token-types.js";
import { response, type TokenExchangeResponse } from "./token-response.js";

export interface ExchangeDeps {
  readonly verifier: SubjectTokenVerifier;
  readonly reExchange: ReExchange;
  readonly policies: () => PolicySet;
  readonly minter: AccessTokenMinter;
  readonly audit: AuditSink;
  readonly revocations: RevocationStore;
  readonly clock: Clock;
  readonly maxLifetimeSeconds: number;
}

export interface ExchangeCall {
  readonly request: TokenExchangeRequest;
  readonly requestId: string;
  readonly clientAddress: string;
}

const DENIAL_CODES: Record<DenialReason, BrokerErrorCode> = {
  no_matching_policy: "unauthorized_client",
  target_not_granted: "invalid_target",
  scope_not_granted: "invalid_scope",
  token_type_not_granted: "invalid_request",
};

const DENIAL_DESCRIPTIONS: Record<DenialReason, string> = {
  no_matching_policy: "no policy grants a credential to this identity",
  target_not_granted: "the requested audience or resource is not granted to this identity",
  scope_not_granted: "the requested scope is not granted to this identity",
  token_type_not_granted: "the requested_token_type is not granted to this identity",
};

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
    } as const;
    // What is known about the caller so far, for the audit record of a denial.
    let known: Pick<ExchangeAuditEvent, "issuer" | "subject" | "evaluated" | "workloadId" | "policy"> = {};
    try {
      if (request.requestedTokenType === "jwt") {
        throw new BrokerError("invalid_request", "JWT-SVIDs (requested_token_type jwt) are not issued by this broker yet");
      }
      if (request.subjectTokenType === TOKEN_TYPE.accessToken) {
        const issued = await deps.reExchange(request, call.clientAddress);
        deps.audit.record({ ...base, decision: "allow", reason: "re-exchange of a broker token", ...issued.audit });
        return issued.response;
      }

      const subject = await deps.verifier.verify(request.subjectToken);
      const context = requestContext(request, call.clientAddress, epochSeconds(deps.clock));
      known = { issuer: subject.identity.issuer, subject: subject.identity.subject };
      const decision = deps.policies().evaluate(subject, context);
      known = { ...known, evaluated: decision.evaluated };
      if (!decision.allow) {
        throw new BrokerError(DENIAL_CODES[decision.reason], DENIAL_DESCRIPTIONS[decision.reason], {
          detail: `${decision.reason}: ${decision.details.join("; ")}`,
        });
      }
      const { grant } = decision;
      known = { ...known, workloadId: grant.workloadId, policy: grant.policyId };
      const narrowed = attenuate(grant, context, deps.maxLifetimeSeconds);
      if (!narrowed.ok) {
        const reason = narrowed.code === "invalid_scope" ? "scope_not_granted" : "target_not_granted";
        throw new BrokerError(narrowed.code, DENIAL_DESCRIPTIONS[reason], { detail: narrowed.detail });
      }
      await checkIssuance(deps.revocations, {
        workloadId: grant.workloadId,
        replay: subject.replayKey ? { key: subject.replayKey, expiresAt: subject.expiresAt } : undefined,
      });

      const token = await deps.minter.mint({
        subject: grant.workloadId,
        audiences: narrowed.audiences,
        scopes: narrowed.scopes,
        lifetimeSeconds: narrowed.lifetimeSeconds,
        extraClaims: grant.extraClaims,
      });
      const scope = narrowed.scopes.join(" ");
      deps.audit.record({
        ...base,
        ...known,
        decision: "allow",
        jti: token.jti,
        exp: token.expiresAt,
        audience: narrowed.audiences,
        ...(scope ? { scope } : {}),
      });
      return response(token.token, token.expiresAt - token.issuedAt, scope);
    } catch (error) {
      deps.audit.record({
        ...base,
        ...known,
        decision: "deny",
        error: error instanceof BrokerError ? error.code : "server_error",
        reason: error instanceof BrokerError ? (error.detail ?? error.description) : "unexpected error",
      });
      throw error;
    }
  };
}

export type ExchangeToken = ReturnType<typeof createExchangeToken>;
