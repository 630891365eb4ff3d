import { createLocalJWKSet, errors as joseErrors, type JWK, type JWSHeaderParameters } from "jose";
import { BrokerError } from "../errors/broker-error.js";
import { epochSeconds, type Clock } from "../lib/clock.js";
import { verifyCompactJwt, type JwtRules } from "../lib/compact-jwt.js";
import { KeyObjects } from "../lib/jws-signature.js";
import { ACCESS_TOKEN_CLAIMS, ACCESS_TOKEN_TYP, isBrokerSigningAlgorithm, MAX_BROKER_TOKEN_CHARS, type AccessTokenClaims } from "../protocol/broker-tokens.js";
import type { KeyStore } from "./key-store.js";

/** Claims of a broker-issued access token that passed verification: the broker's own always name the client. */
export interface BrokerTokenClaims extends AccessTokenClaims {
  readonly client_id: string;
}

/** The published keys as the verifier reads them: the key for a header, and the algorithms in use. */
interface PublishedKeys {
  readonly key: (header: JWSHeaderParameters) => ReturnType<ReturnType<typeof createLocalJWKSet>>;
  /** The broker algorithms of the published keys: the only `alg` values a token may carry. */
  readonly algorithms: ReadonlySet<string>;
}

function readPublished(published: readonly Readonly<JWK>[]): PublishedKeys {
  const jwks = createLocalJWKSet({ keys: published.map((jwk) => ({ ...jwk })) });
  const algByKid = new Map<string, string>();
  for (const jwk of published) if (jwk.kid !== undefined && isBrokerSigningAlgorithm(jwk.alg)) algByKid.set(jwk.kid, jwk.alg);
  // RFC 8725 §3.1: the header's `alg` must be the one the key its `kid` names signs with. jose's
  // key set already skips a key whose `alg` differs (so an RSA key never meets an ES256 token, nor
  // a PS256 key an RS256 one); this says it here too, with jose's own error, rather than leaning on it.
  const key = (header: JWSHeaderParameters) => {
    const expected = typeof header.kid === "string" ? algByKid.get(header.kid) : undefined;
    if (expected !== undefined && expected !== header.alg) return Promise.reject(new joseErrors.JWKSNoMatchingKey());
    return jwks(header);
  };
  return { key, algorithms: new Set(published.map((jwk) => jwk.alg).filter(isBrokerSigningAlgorithm)) };
}

/**
 * Verifies access tokens this broker issued (for re-exchange and introspection): only our issuer,
 * only our published keys, each with its own algorithm (ES256, RS256 or PS256), only `typ: at+jwt`
 * (RFC 9068 §4).
 */
export function createBrokerTokenVerifier(options: { issuer: string; keys: KeyStore; clock: Clock }) {
  // Rebuilt only when the published key set changes (rotation), not per request.
  let publishedRef: unknown;
  let current: PublishedKeys | undefined;
  const publishedKeys = (): PublishedKeys => {
    const published = options.keys.publishedKeys();
    if (published !== publishedRef || !current) {
      publishedRef = published;
      current = readPublished(published);
    }
    return current;
  };

  // jose's jwtVerify rules with node:crypto on each key's KeyObject (lib/compact-jwt.ts): no
  // WebCrypto job per token. The differential test in test/credentials/ holds it equal to jose.
  const keyObjects = new KeyObjects();
  const rules: Omit<JwtRules, "now" | "algorithms"> = {
    issuer: options.issuer,
    typ: ACCESS_TOKEN_TYP,
    requiredClaims: [...ACCESS_TOKEN_CLAIMS, "client_id"],
  };

  return {
    async verify(token: string, label = "subject_token"): Promise<BrokerTokenClaims> {
      if (token.length > MAX_BROKER_TOKEN_CHARS) throw invalid(label, "is too large", "oversized broker token");
      try {
        const { key, algorithms } = publishedKeys();
        const payload = await verifyCompactJwt(token, (header) => key(header as JWSHeaderParameters), { ...rules, algorithms, now: epochSeconds(options.clock) }, keyObjects);
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
