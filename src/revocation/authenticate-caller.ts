import type { BrokerTokenClaims, BrokerTokenVerifier } from "../credentials/broker-token-verifier.js";
import { BrokerError } from "../errors.js";
import { guard } from "./store-guard.js";
import type { RevocationStore } from "./revocation-store.js";

/** Who a bearer-protected call (introspection, admin API) came from. */
export interface AuthenticatedCaller {
  /** The token's `sub`: the workload id (or operator identity) a policy assigned. */
  readonly subject: string;
  readonly claims: BrokerTokenClaims;
}

export type AuthenticateCaller = (token: string, requiredScope: string) => Promise<AuthenticatedCaller>;

/** What a 401 says: one description for every reason, so a caller learns nothing about why. */
const INVALID = "a valid bearer token issued by this broker is required";

/**
 * Authenticates the caller of a broker endpoint by a broker-issued access token (RFC 6750):
 * our signature and issuer, alive, `aud` naming the broker itself (a token minted for some
 * other service must not open the broker's own endpoints), not revoked, and carrying
 * `requiredScope`. Fails closed: a store outage is 503, never a pass.
 */
export function createAuthenticateCaller(deps: {
  readonly brokerTokens: BrokerTokenVerifier;
  readonly revocations: RevocationStore;
  readonly issuerUrl: string;
}): AuthenticateCaller {
  return async function authenticateCaller(token, requiredScope) {
    let claims: BrokerTokenClaims;
    try {
      claims = await deps.brokerTokens.verify(token, "bearer token");
    } catch (error) {
      if (error instanceof BrokerError) throw invalidToken(error.detail ?? error.description);
      throw error;
    }
    const audiences = typeof claims.aud === "string" ? [claims.aud] : claims.aud;
    if (!audiences.includes(deps.issuerUrl)) throw invalidToken(`token ${claims.jti} is not meant for this broker (aud)`);
    if ((await guard(deps.revocations.tokenStatus(claims))) === "revoked") {
      throw invalidToken(`token ${claims.jti} of ${claims.sub} is revoked`);
    }
    // RFC 6750 §3.1: a valid token without the needed scope is 403 insufficient_scope.
    if (!(claims.scope ?? "").split(" ").includes(requiredScope)) {
      throw new BrokerError("insufficient_scope", "the bearer token lacks the scope this endpoint requires", {
        detail: `token ${claims.jti} of ${claims.sub} lacks scope ${requiredScope}`,
      });
    }
    return { subject: claims.sub, claims };
  };
}

/** RFC 6750 §3.1 invalid_token (401); `detail` goes to the log and audit only. */
export function invalidToken(detail: string): BrokerError {
  return new BrokerError("invalid_token", INVALID, { detail });
}
