import type { Hono } from "hono";
import { JWKS_MAX_AGE_SECONDS } from "../credentials/key-rotation.js";
import type { KeyStore } from "../credentials/key-store.js";
import { BROKER_SIGNING_ALGORITHMS } from "../protocol/broker-tokens.js";
import { DPOP_ALGORITHMS } from "../dpop/algorithms.js";
import { TOKEN_EXCHANGE_GRANT } from "../protocol/token-types.js";
import type { AppEnv } from "./app-env.js";

/**
 * RFC 8414 authorization server metadata (also served at the OpenID discovery path, where
 * resource servers commonly look for jwks_uri) and the JWKS of published signing keys.
 */
export function metadataRoutes(app: Hono<AppEnv>, deps: { issuerUrl: string; keys: KeyStore }): void {
  const metadata = {
    issuer: deps.issuerUrl,
    token_endpoint: `${deps.issuerUrl}/token`,
    jwks_uri: `${deps.issuerUrl}/.well-known/jwks.json`,
    grant_types_supported: [TOKEN_EXCHANGE_GRANT],
    // Token exchange needs no authorization endpoint, so no response types are offered.
    response_types_supported: [],
    // The subject token authenticates the workload (RFC 8693 §2.1: client auth is optional); a
    // request carrying client credentials is refused with invalid_client. No JWT client
    // authentication, so no token_endpoint_auth_signing_alg_values_supported (RFC 8414 §2).
    token_endpoint_auth_methods_supported: ["none"],
    // Filled in per published key set (below): one algorithm per key.
    access_token_signing_alg_values_supported: [] as string[],
    // RFC 7009: the token itself proves possession; no client authentication.
    revocation_endpoint: `${deps.issuerUrl}/revoke`,
    revocation_endpoint_auth_methods_supported: ["none"],
    // RFC 7662: the caller presents a broker access token with the introspection scope. RFC 8414
    // §2 allows names from the IANA "OAuth Access Token Types" registry here: "Bearer".
    introspection_endpoint: `${deps.issuerUrl}/introspect`,
    // A DPoP-bound token authenticates with the DPoP scheme and a proof (RFC 9449 §7.1).
    introspection_endpoint_auth_methods_supported: ["Bearer", "DPoP"],
    // RFC 9449 §5.1: the proof algorithms accepted, exactly.
    dpop_signing_alg_values_supported: [...DPOP_ALGORITHMS],
  };
  // The algorithms of the keys published now (a rotation from ES256 to PS256 lists both while
  // they overlap); rebuilt only when the published set changes, like the JWKS below.
  let metadataKeysRef: unknown;
  let metadataJson = "";
  const serveMetadata = () => {
    const published = deps.keys.publishedKeys();
    if (published !== metadataKeysRef) {
      metadataKeysRef = published;
      const algorithms = BROKER_SIGNING_ALGORITHMS.filter((alg) => published.some((jwk) => jwk.alg === alg));
      metadataJson = JSON.stringify({ ...metadata, access_token_signing_alg_values_supported: algorithms });
    }
    return new Response(metadataJson, { headers: { "Content-Type": "application/json", "Cache-Control": `public, max-age=${JWKS_MAX_AGE_SECONDS}` } });
  };
  app.get("/.well-known/oauth-authorization-server", serveMetadata);
  app.get("/.well-known/openid-configuration", serveMetadata);

  // Cached per published-key set: rotation swaps the array, so the JSON is rebuilt only then.
  let publishedRef: unknown;
  let jwksJson = "";
  app.get("/.well-known/jwks.json", () => {
    const published = deps.keys.publishedKeys();
    if (published !== publishedRef) {
      publishedRef = published;
      jwksJson = JSON.stringify({ keys: published });
    }
    // Short max-age: a key published ahead of rotation must reach verifiers before it signs.
    return new Response(jwksJson, { headers: { "Content-Type": "application/json", "Cache-Control": `public, max-age=${JWKS_MAX_AGE_SECONDS}` } });
  });
}
