import { createLocalJWKSet, errors as joseErrors, type JWSHeaderParameters } from "jose";
import { BrokerError } from "../errors/broker-error.js";
import { epochSeconds, type Clock } from "../lib/clock.js";
import { verifyCompactJwt, type JwtRules } from "../lib/compact-jwt.js";
import { KeyObjects } from "../lib/jws-signature.js";
import { ACCESS_TOKEN_CLAIMS, ACCESS_TOKEN_TYP, MAX_BROKER_TOKEN_CHARS, SIGNING_ALGORITHM, type AccessTokenClaims } from "../protocol/broker-tokens.js";
import type { KeyStore } from "./key-store.js";

/** Claims of a broker-issued access token that passed verification: the broker's own always name the client. */
export interface BrokerTokenClaims extends AccessTokenClaims {
  readonly client_id: string;
}

/**
 * Verifies access tokens this broker issued (for re-exchange and introspection): only
 * our issuer, only our published keys, only ES256, only `typ: at+jwt` (RFC 9068 §4).
 */
export function createBrokerTokenVerifier(options: { issuer: string; keys: KeyStore; clock: Clock }) {
  // Rebuilt only when the published key set changes (rotation), not per request.
  let publishedRef: unknown;
  let jwks: ReturnType<typeof createLocalJWKSet> | undefined;
  const keySet = () => {
    const published = options.keys.publishedKeys();
    if (published !== publishedRef || !jwks) {
      publishedRef = published;
      jwks = createLocalJWKSet({ keys: published.map((jwk) => ({ ...jwk })) });
    }
    return jwks;
  };

  // jose's jwtVerify rules with node:crypto on each key's KeyObject (lib/compact-jwt.ts): no
  // WebCrypto job per token. The differential test in test/credentials/ holds it equal to jose.
  const keyObjects = new KeyObjects();
  const rules: Omit<JwtRules, "now"> = {
    issuer: options.issuer,
    algorithms: new Set([SIGNING_ALGORITHM]),
    typ: ACCESS_TOKEN_TYP,
    requiredClaims: [...ACCESS_TOKEN_CLAIMS, "client_id"],
  };

  return {
    async verify(token: string, label = "subject_token"): Promise<BrokerTokenClaims> {
      if (token.length > MAX_BROKER_TOKEN_CHARS) throw invalid(label, "is too large", "oversized broker token");
      try {
        const jwks = keySet();
        const payload = await verifyCompactJwt(token, (header) => jwks(header as JWSHeaderParameters), { ...rules, now: epochSeconds(options.clock) }, keyObjects);
        if (!Number.isFinite(payload.exp) || typeof payload.jti !== "string" || typeof payload.client_id !== "string") {
          throw invalid(label, "is not a valid access token of this broker", "malformed broker token claims");
        }
        if (payload.scope !== undefined && typeof payload.scope !== "string") {
          throw invalid(label, "is not a valid access token of this broker", "scope claim is not a string");
        }
        return payload as BrokerTokenClaims;
      } catch (error) {
        if (error instanceof BrokerError) throw error;
        if (error instanceof joseErrors.JWTExpired) throw invalid(label, "has expired", error.message);
        if (error instanceof joseErrors.JOSEError) {
          throw invalid(label, "is not a valid access token of this broker", `${error.code}: ${error.message}`);
        }
        throw error;
      }
    },
  };
}

export type BrokerTokenVerifier = ReturnType<typeof createBrokerTokenVerifier>;

function invalid(label: string, what: string, detail: string): BrokerError {
  return new BrokerError("invalid_request", `${label} ${what}`, { detail });
}
