/**
 * The crypto floor: the least any token exchange over HTTP can do on this machine, as a server
 * of its own. node:http with no framework, the form read with URLSearchParams, the ES256 subject
 * token verified with node:crypto against a KeyObject imported once, its issuer and expiry
 * checked, and an ES256 JWT signed with node:crypto. No policy, no revocation or block checks, no
 * audit record, no metrics, no log line, no store.
 *
 * It does a strict subset of the broker's cold exchange, so its req/s in the same run bounds what
 * any exchange handler can reach under this load generator on these cores: if it stays below a
 * multiple of the naive floor, so must every exchange that verifies and signs.
 *
 * With a worker count above 1 it runs that many processes under node:cluster on one port (each
 * with its own signing key), the bound for a broker with BROKER_WORKERS.
 *
 * Usage: node --import tsx bench/crypto-floor-server.ts <port> <jwks-file> <subject-token issuer> [<workers>]
 */
import cluster from "node:cluster";
import { createPublicKey, generateKeyPairSync, randomUUID, sign, verify, type JsonWebKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

const [portText = "0", jwksFile = "", subjectIssuer = "", workersText = "1"] = process.argv.slice(2);
const { keys } = JSON.parse(readFileSync(jwksFile, "utf8")) as { keys: (JsonWebKey & { kid?: string })[] };
const verifyingKeys = new Map<string | undefined, KeyObject>(keys.map((jwk) => [jwk.kid, createPublicKey({ key: jwk, format: "jwk" })]));
const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
const ES256 = { dsaEncoding: "ieee-p1363" } as const;
const header = Buffer.from(JSON.stringify({ alg: "ES256", typ: "at+jwt" })).toString("base64url");

interface Claims {
  readonly iss?: unknown;
  readonly sub?: unknown;
  readonly exp?: unknown;
}

/** The subject token's claims if its ES256 signature, issuer and expiry hold; undefined otherwise. */
function verified(token: string): Claims | undefined {
  const [encodedHeader = "", encodedPayload = "", signature = "", extra] = token.split(".");
  if (extra !== undefined) return undefined;
  const { alg, kid } = JSON.parse(Buffer.from(encodedHeader, "base64url").toString()) as { alg?: unknown; kid?: string };
  const key = verifyingKeys.get(kid);
  if (alg !== "ES256" || key === undefined) return undefined;
  if (!verify("sha256", Buffer.from(`${encodedHeader}.${encodedPayload}`), { key, ...ES256 }, Buffer.from(signature, "base64url"))) return undefined;
  const claims = JSON.parse(Buffer.from(encodedPayload, "base64url").toString()) as Claims;
  const now = Math.floor(Date.now() / 1000);
  return claims.iss === subjectIssuer && typeof claims.exp === "number" && claims.exp > now ? claims : undefined;
}

function accessToken(subject: string): string {
  const now = Math.floor(Date.now() / 1000);
  const payload = Buffer.from(JSON.stringify({ sub: subject, aud: "https://demo.example.com", scope: "demo:read", iat: now, exp: now + 600, jti: randomUUID() })).toString("base64url");
  const input = `${header}.${payload}`;
  return `${input}.${sign("sha256", Buffer.from(input), { key: privateKey, ...ES256 }).toString("base64url")}`;
}

function answer(response: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  response.end(text);
}

function exchange(request: IncomingMessage, response: ServerResponse): void {
  const chunks: Buffer[] = [];
  request.on("data", (chunk: Buffer) => chunks.push(chunk));
  request.on("end", () => {
    try {
      const claims = verified(new URLSearchParams(Buffer.concat(chunks).toString()).get("subject_token") ?? "");
      if (claims === undefined) return answer(response, 400, { error: "invalid_grant" });
      answer(response, 200, { access_token: accessToken(String(claims.sub)), token_type: "Bearer", expires_in: 600 });
    } catch {
      answer(response, 400, { error: "invalid_request" });
    }
  });
}

const workers = Number(workersText);
if (cluster.isPrimary && workers > 1) {
  for (let index = 0; index < workers; index++) cluster.fork();
} else {
  serve();
}

function serve(): void {
  const server = createServer((request, response) => {
    if (request.method === "POST" && request.url === "/token") return exchange(request, response);
    if (request.url === "/healthz") return answer(response, 200, { status: "ok" });
    answer(response, 404, { error: "not_found" });
  });
  server.listen(Number(portText), "127.0.0.1", () => {
    const address = server.address();
    process.stdout.write(`${JSON.stringify({ msg: "listening", port: typeof address === "object" && address !== null ? address.port : 0 })}\n`);
  });
}
