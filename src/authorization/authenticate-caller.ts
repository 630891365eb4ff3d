import type { BrokerTokenClaims, BrokerTokenVerifier } from "../credentials/broker-token-verifier.js";
import { boundJkt } from "../dpop/binding.js";
import type { DpopProofVerifier } from "../dpop/verify-proof.js";
import { BrokerError } from "../errors/broker-error.js";
import { scopesOf } from "../protocol/scope.js";
import { guard } from "../revocation/store-guard.js";
import type { RevocationStatus, TokenRef } from "../revocation/revocation-store.js";
import { tokenRef } from "./token-family.js";

/** Who a bearer-protected call (introspection, admin API) came from. */
export interface AuthenticatedCaller {
  /** The token's `sub`: the workload id (or operator identity) a policy assigned. */
  readonly subject: string;
  readonly claims: BrokerTokenClaims;
}

/**
 * A token sent with the DPoP scheme (RFC 9449 §7.1): the request's `DPoP` header and what the
 * proof must be bound to. The URI is the broker's issuer URL plus `path`, never the Host header.
 */
export interface DpopPresentation {
  readonly proof: string | undefined;
  readonly method: string;
  readonly path: string;
}

/** `presentation` undefined: the token came as `Authorization: Bearer`. */
export type AuthenticateCaller = (token: string, requiredScope: string, presentation?: DpopPresentation) => Promise<AuthenticatedCaller>;

/**
 * Authenticates the caller of a broker endpoint by a broker-issued access token (RFC 6750):
 * our signature and issuer, alive, `aud` naming the broker itself (a token minted for some
 * other service must not open the broker's own endpoints), sent with the scheme its binding calls
 * for (RFC 9449 §7.2: never a DPoP-bound token as Bearer), not revoked, and carrying
 * `requiredScope`. Fails closed: a store outage is `temporarily_unavailable`, never a pass.
 */
export function createAuthenticateCaller(deps: {
  readonly brokerTokens: BrokerTokenVerifier;
  readonly revocations: RevocationStatus;
  readonly issuerUrl: string;
  /** Verifies DPoP proofs (no nonce at these endpoints); undefined: the DPoP scheme is refused. */
  readonly dpop?: DpopProofVerifier;
}): AuthenticateCaller {
  return async function authenticateCaller(token, requiredScope, presentation) {
    let claims: BrokerTokenClaims;
    try {
      claims = await deps.brokerTokens.verify(token, "bearer token");
    } catch (error) {
      if (error instanceof BrokerError) throw invalidToken(error.detail ?? error.description);
      throw error;
    }
    const audiences = typeof claims.aud === "string" ? [claims.aud] : claims.aud;
    if (!audiences.includes(deps.issuerUrl)) throw invalidToken(`token ${claims.jti} is not meant for this broker (aud)`);
    await checkSenderConstraint(claims, token, presentation);
    let ref: TokenRef;
    try {
      ref = tokenRef(claims);
    } catch {
      throw invalidToken(`token ${claims.jti} carries a malformed act or lineage claim`);
    }
    if ((await guard(deps.revocations.tokenStatus(ref))) === "revoked") {
      throw invalidToken(`token ${claims.jti} of ${claims.sub} is revoked`);
    }
    // RFC 6750 §3.1: a valid token without the needed scope is 403 insufficient_scope.
    if (!scopesOf(claims.scope).includes(requiredScope)) {
      throw new BrokerError("insufficient_scope", { detail: `token ${claims.jti} of ${claims.sub} lacks scope ${requiredScope}` });
    }
    return { subject: claims.sub, claims };
  };

  /**
   * RFC 9449 §7.1, §7.2: a DPoP-bound token only with the DPoP scheme and a proof of its key
   * (with `ath`, for this method and URI, fresh, not replayed); a bearer token only as Bearer.
   */
  async function checkSenderConstraint(claims: BrokerTokenClaims, token: string, presentation: DpopPresentation | undefined): Promise<void> {
    let jkt: string | undefined;
    try {
      jkt = boundJkt(claims);
    } catch {
      throw invalidToken(`token ${claims.jti} carries a malformed cnf claim`);
    }
    if (presentation === undefined) {
      if (jkt !== undefined) throw invalidToken(`token ${claims.jti} is DPoP-bound but was presented as a bearer token`);
      return;
    }
    if (jkt === undefined) throw invalidToken(`token ${claims.jti} is not DPoP-bound but was presented with the DPoP scheme`);
    if (deps.dpop === undefined) throw invalidToken("the DPoP scheme is not supported here");
    // RFC 9449 §7.1: a proof refused here is answered 401 with a DPoP challenge (src/http/error-response.ts).
    if (presentation.proof === undefined) throw new BrokerError("invalid_dpop_proof", "a DPoP proof is required with the DPoP scheme", { detail: "DPoP: no DPoP header" });
    const { jkt: proofJkt } = await deps.dpop.verify(presentation.proof, { method: presentation.method, url: `${deps.issuerUrl}${presentation.path}`, accessToken: token });
    if (proofJkt !== jkt) throw invalidToken(`token ${claims.jti} is bound to ${jkt}, the DPoP proof key is ${proofJkt}`);
  }
}

/** RFC 6750 §3.1 invalid_token, with the code's one description; `detail` goes to the log and audit only. */
export function invalidToken(detail: string): BrokerError {
  return new BrokerError("invalid_token", { detail });
}
