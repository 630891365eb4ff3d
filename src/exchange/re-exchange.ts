import type { ExchangeAuditEvent } from "../audit/audit-event.js";
import type { AccessTokenMinter } from "../credentials/access-token.js";
import type { BrokerTokenClaims, BrokerTokenVerifier } from "../credentials/broker-token-verifier.js";
import { BrokerError } from "../errors.js";
import { epochSeconds, type Clock } from "../lib/clock.js";
import type { ClaimValue } from "../policy/types.js";
import type { RevocationStore } from "../revocation/revocation-store.js";
import { attenuate } from "./attenuate.js";
import { checkBrokerToken } from "./revocation-checks.js";
import { requestContext, type TokenExchangeRequest } from "./token-request.js";
import { response, type TokenExchangeResponse } from "./token-response.js";

/** Claims the broker sets itself; everything else in a broker token came from a grant's extra claims. */
const REGISTERED = new Set(["iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "scope"]);

export interface ReExchangeResult {
  readonly response: TokenExchangeResponse;
  readonly audit: Pick<ExchangeAuditEvent, "issuer" | "subject" | "workloadId" | "jti" | "exp" | "audience" | "scope">;
}

export type ReExchange = (request: TokenExchangeRequest, clientAddress: string) => Promise<ReExchangeResult>;

/**
 * Narrows a broker-issued access token further (RFC 8693 §1.1 "downscoping"): the original's
 * audiences, scopes and remaining lifetime are the bounds. Never more, never longer.
 */
export function createReExchange(deps: {
  readonly brokerTokens: BrokerTokenVerifier;
  readonly minter: AccessTokenMinter;
  readonly revocations: RevocationStore;
  readonly clock: Clock;
  readonly issuer: string;
  readonly maxLifetimeSeconds: number;
}): ReExchange {
  return async (request, clientAddress) => {
    const original = await deps.brokerTokens.verify(request.subjectToken);
    const now = epochSeconds(deps.clock);
    const bounds = {
      audiences: typeof original.aud === "string" ? [original.aud] : original.aud,
      scopes: original.scope ? original.scope.split(" ") : [],
      maxLifetimeSeconds: original.exp - now,
    };
    const narrowed = attenuate(bounds, requestContext(request, clientAddress, now), deps.maxLifetimeSeconds);
    if (!narrowed.ok) {
      const description = narrowed.code === "invalid_scope" ? "scope exceeds the subject_token's scope" : "audience or resource exceeds the subject_token's audience";
      throw new BrokerError(narrowed.code, description, { detail: `re-exchange of ${original.jti}: ${narrowed.detail}` });
    }
    if (narrowed.lifetimeSeconds <= 0) throw new BrokerError("invalid_request", "subject_token has expired");
    // Narrowing is still issuance: a revoked token or a blocked workload gets nothing new.
    await checkBrokerToken(deps.revocations, original);

    const token = await deps.minter.mint({
      subject: original.sub,
      audiences: narrowed.audiences,
      scopes: narrowed.scopes,
      lifetimeSeconds: narrowed.lifetimeSeconds,
      extraClaims: extraClaims(original),
      notAfter: original.exp,
    });
    const scope = narrowed.scopes.join(" ");
    return {
      response: response(token.token, token.expiresAt - token.issuedAt, scope),
      audit: {
        issuer: deps.issuer,
        subject: original.sub,
        workloadId: original.sub,
        jti: token.jti,
        exp: token.expiresAt,
        audience: narrowed.audiences,
        ...(scope ? { scope } : {}),
      },
    };
  };
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
