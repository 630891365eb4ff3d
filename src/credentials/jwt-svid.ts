import { randomTokenId } from "../lib/token-id.js";
import { epochSeconds, type Clock } from "../lib/clock.js";
import type { ClaimValue } from "../protocol/claims.js";
import type { IssuedToken } from "./access-token.js";
import { registeredClaims, signJwt } from "./jwt-signer.js";
import type { SignerSource } from "./signer.js";

/** JWT-SVID §2: the header's `typ`, when present, is JWT or JOSE. */
const JWT_SVID_TYP = "JWT";

/** What one JWT-SVID says. */
export interface JwtSvidSpec {
  readonly spiffeId: string;
  /** At least one (JWT-SVID §3.2: `aud` is required). */
  readonly audiences: readonly string[];
  readonly lifetimeSeconds: number;
  readonly extraClaims: Readonly<Record<string, ClaimValue>>;
}

export interface JwtSvidMinter {
  mint(spec: JwtSvidSpec): Promise<IssuedToken>;
}

/**
 * Mints JWT-SVIDs (SPIFFE JWT-SVID spec): header `alg` ES256, `kid`, `typ: JWT` and nothing else
 * (§2); claims `sub` = the SPIFFE ID, `aud`, `exp` (§3), plus `iat`, `iss` and a random `jti`.
 * The `typ` differs from access tokens' `at+jwt`, so a JWT-SVID never opens a broker endpoint.
 */
export function createJwtSvidMinter(options: { issuer: string; keys: SignerSource; clock: Clock }): JwtSvidMinter {
  return {
    async mint(spec) {
      if (spec.audiences.length === 0) throw new Error("a JWT-SVID needs an audience");
      const signer = options.keys.activeKey();
      const issuedAt = epochSeconds(options.clock);
      const expiresAt = issuedAt + spec.lifetimeSeconds;
      const jti = randomTokenId();
      // Assigned, not spread into a new object: no hidden class made per token (lib/merged.ts).
      const payload = registeredClaims(spec.extraClaims, { iss: options.issuer, sub: spec.spiffeId, audiences: spec.audiences, exp: expiresAt });
      payload.iat = issuedAt;
      payload.jti = jti;
      return { token: await signJwt(signer, JWT_SVID_TYP, payload), jti, issuedAt, expiresAt };
    },
  };
}
