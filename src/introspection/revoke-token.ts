import type { AuditSink } from "../audit/audit-event.js";
import type { BrokerTokenClaims, BrokerTokenVerifier } from "../credentials/broker-token-verifier.js";
import { BrokerError } from "../errors/broker-error.js";
import { guard } from "../revocation/store-guard.js";
import { epochSeconds, type Clock } from "../lib/clock.js";
import { sha256Hex } from "../lib/hash.js";
import type { RevocationAdmin, RevocationStatus, TokenRef } from "../revocation/revocation-store.js";
import { tokenRef } from "../authorization/token-family.js";

export interface RevokeTokenCall {
  readonly token: string;
  readonly requestId: string;
  readonly clientAddress: string;
}

export type RevokeToken = (call: RevokeTokenCall) => Promise<void>;

const HOLDER_REVOCATION_REASON = "revoked by holder (RFC 7009)";

/**
 * Token revocation (RFC 7009) by the holder: possession of a valid broker access token is the
 * proof, so a public client can revoke its own token. Its `jti` is revoked until its `exp`.
 * An invalid, foreign or expired token needs nothing (§2.2: the caller still gets 200);
 * a store outage is 503 (§2.2.1: the client may retry).
 */
export function createRevokeToken(deps: {
  readonly brokerTokens: BrokerTokenVerifier;
  readonly revocations: RevocationStatus & Pick<RevocationAdmin, "revokeToken">;
  readonly audit: AuditSink;
  readonly clock: Clock;
}): RevokeToken {
  return async function revokeToken(call) {
    let claims: BrokerTokenClaims;
    try {
      claims = await deps.brokerTokens.verify(call.token, "token");
    } catch (error) {
      if (error instanceof BrokerError) return;
      throw error;
    }
    const base = {
      event: "token_revocation",
      requestId: call.requestId,
      actor: claims.sub,
      jti: claims.jti,
      exp: claims.exp,
      tokenSha256: sha256Hex(call.token),
      clientAddress: call.clientAddress,
    } as const;
    // Already inactive (by jti or by workload): keep the entry that is there, and its reason.
    // A token whose act or lineage we never wrote is revoked by its jti alone.
    let ref: TokenRef = claims;
    try {
      ref = tokenRef(claims);
    } catch (error) {
      if (!(error instanceof BrokerError)) throw error;
    }
    if ((await guard(deps.revocations.tokenStatus(ref))) === "revoked") {
      deps.audit.record({ ...base, outcome: "already_revoked" });
      return;
    }
    await guard(
      deps.revocations.revokeToken({
        jti: claims.jti,
        expiresAt: claims.exp,
        actor: claims.sub,
        reason: HOLDER_REVOCATION_REASON,
        at: epochSeconds(deps.clock),
        atMs: deps.clock.now(),
      }),
    );
    deps.audit.record({ ...base, outcome: "revoked" });
  };
}
