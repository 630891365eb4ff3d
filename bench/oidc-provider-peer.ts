/**
 * A same-run peer for the benchmarks (issue 14): panva's oidc-provider issuing `client_credentials`
 * access tokens as ES256 JWTs, what a Node user might run instead of the broker.
 *   - one registered client, `client_secret_basic` (the bench sends an Authorization header);
 *   - resource indicators on, one resource server (https://demo.example.com, scope demo:read)
 *     with `accessTokenFormat: 'jwt'` signed ES256 by an EC P-256 key generated at start;
 *   - no adapter: JWT access tokens are not stored, so the default in-memory adapter is never
 *     written on this path.
 * `GET /healthz` answers "ok" (the bench's readiness probe); everything else goes to the provider.
 * Usage: node --import tsx bench/oidc-provider-peer.ts <port> <client_id> <client_secret> <resource> <scope>
 * The bench sets NODE_ENV=production, as for the broker.
 */
import { generateKeyPairSync } from "node:crypto";
import { createServer } from "node:http";
import Provider, { errors } from "oidc-provider";

const [portText = "0", clientId = "bench-client", clientSecret = "", resource = "https://demo.example.com", scope = "demo:read"] = process.argv.slice(2);

async function main(): Promise<void> {
  const port = Number(portText);
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = { ...privateKey.export({ format: "jwk" }), kid: "bench-es256", alg: "ES256", use: "sig" };
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        grant_types: ["client_credentials"],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: "client_secret_basic",
        id_token_signed_response_alg: "ES256",
      },
    ],
    jwks: { keys: [jwk] },
    scopes: [scope],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resourceIndicator) => {
          if (resourceIndicator !== resource) throw new errors.InvalidTarget();
          return { scope, accessTokenFormat: "jwt", accessTokenTTL: 600, jwt: { sign: { alg: "ES256" } } };
        },
      },
    },
  });
  const handle = provider.callback();
  createServer((req, res) => {
    if (req.url === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      return;
    }
    void handle(req, res);
  }).listen(port, "127.0.0.1");
}

await main();
