import { BrokerError } from "../errors/broker-error.js";
import { epochSeconds } from "../lib/clock.js";
import { audited, type AdminCall, type AdminRevocationDeps } from "./admin-call.js";
import type { TokenRevocation } from "../revocation/revocation-store.js";

/** The furthest ahead an operator may keep a `jti` revoked: every broker credential dies long before. */
const MAX_TOKEN_REVOCATION_SECONDS = 86_400;

export interface RevokeTokenIdCommand {
  readonly jti: string;
  /** When the entry may go, epoch seconds; undefined: now + the global lifetime cap. */
  readonly expiresAt?: number;
  readonly reason: string;
}

export type RevokeTokenId = (command: RevokeTokenIdCommand, call: AdminCall) => Promise<TokenRevocation>;

/**
 * An operator revokes one credential by its `jti`. Without an explicit end, the entry lives for
 * the global lifetime cap: any broker credential with that `jti` issued before now expires by then.
 */
export function createRevokeTokenId(deps: AdminRevocationDeps): RevokeTokenId {
  return async function revokeTokenId(command, call) {
    const now = epochSeconds(deps.clock);
    const entry: TokenRevocation = {
      jti: command.jti,
      expiresAt: command.expiresAt ?? now + deps.maxLifetimeSeconds,
      actor: call.actor,
      reason: command.reason,
      at: now,
      atMs: deps.clock.now(),
    };
    return audited(deps.audit, call, { action: "revoke_token", target: command.jti, reason: command.reason }, async () => {
      if (entry.expiresAt <= now || entry.expiresAt > now + MAX_TOKEN_REVOCATION_SECONDS) {
        throw new BrokerError("invalid_request", `expires_at must be in the future and at most ${MAX_TOKEN_REVOCATION_SECONDS} seconds ahead`);
      }
      await deps.revocations.revokeToken(entry);
      return entry;
    });
  };
}
