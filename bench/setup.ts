/**
 * What the bench serves and sends: its issuers and policies, subject tokens minted with
 * node:crypto, request bodies, and the check that the oidc-provider peer issues real ES256 JWTs.
 */
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { signJwt } from "../src/credentials/jwt-signer.js";
import { toSigningKey, type SigningKey } from "../src/credentials/signing-key.js";
import type { Server } from "./processes.js";

export const GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange";
export const JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt";
export const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";
// The bench's own issuers, with keys it makes: the broker runs as in production, which refuses
// the development issuer, development signing keys and the development CA.
export const BENCH_ISSUER = "https://bench-issuer.invalid";
export const TRUST_DOMAIN = "broker.local";
export const ONCE_ISSUER = "https://bench-once.invalid";
// An RS256 issuer (GitHub Actions' algorithm) for the cold RS256 exchange.
export const RS_ISSUER = "https://bench-rs256.invalid";

export function exchangeBody(subjectToken: string, extra: Record<string, string> = {}): string {
  return new URLSearchParams({
    grant_type: GRANT_TYPE,
    subject_token_type: JWT_TYPE,
    subject_token: subjectToken,
    audience: "https://demo.example.com",
    scope: "demo:read",
    ...extra,
  }).toString();
}

/** A subject token of a bench issuer, signed through node:crypto (fast enough to mint thousands). */
export function mintSubject(key: SigningKey, issuer: string, audience: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return signJwt(key, "JWT", { iss: issuer, sub: "demo-workload", aud: audience, iat: now, exp: now + 3000, jti: randomBytes(16).toString("base64url") });
}

/** An RS256 subject token, signed with node:crypto (RSA signing is the slow part of the setup). */
export function mintRs256Subject(key: KeyObject, kid: string, audience: string): string {
  const now = Math.floor(Date.now() / 1000);
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const input = `${part({ alg: "RS256", typ: "JWT", kid })}.${part({ iss: RS_ISSUER, sub: "demo-workload", aud: audience, iat: now, exp: now + 3000, jti: randomBytes(16).toString("base64url") })}`;
  return `${input}.${sign("sha256", Buffer.from(input), key).toString("base64url")}`;
}

/** One exchange through a running broker, for tokens the scenarios need. */
export async function exchangeFor(server: Server, body: string): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${server.port}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body,
  });
  const json = (await response.json()) as { access_token?: string };
  if (!json.access_token) throw new Error(`setup exchange failed: ${JSON.stringify(json)}`);
  return json.access_token;
}

const policyFor = (id: string, issuer: string, grant: string) => `id: ${id}
issuer: ${issuer}
condition: identity.subject == "${id === "bench-introspector" ? "introspector" : "demo-workload"}"
grant:
${grant}`;

export async function writeConfig(work: string, issuerUrl: string): Promise<{ policyDir: string; benchKeyFile: string; benchJwks: string; onceKeyFile: string; rsKey: KeyObject; rsKid: string }> {
  const policyDir = join(work, "policies");
  await mkdir(policyDir);
  const demoGrant = `  workload_id: demo-workload\n  audiences: [https://demo.example.com]\n  scopes: [demo:read, demo:write]\n  max_lifetime: 10m\n`;
  // The quick-start demo grant (policies/local-dev.policy.yaml), for the bench's own issuer.
  await writeFile(
    join(policyDir, "bench-demo.policy.yaml"),
    policyFor("bench-demo", "bench", `${demoGrant}  token_types: [access_token, jwt, x509_svid]\n  spiffe_id: spiffe://${TRUST_DOMAIN}/demo-workload\n  dns_names: [localhost]\n`),
  );
  await writeFile(join(policyDir, "bench-once.policy.yaml"), policyFor("bench-once", "bench-once", demoGrant));
  await writeFile(join(policyDir, "bench-rs.policy.yaml"), policyFor("bench-rs", "bench-rs", demoGrant));
  await writeFile(
    join(policyDir, "bench-introspector.policy.yaml"),
    policyFor("bench-introspector", "bench", `  workload_id: resource-server\n  audiences: ["${issuerUrl}"]\n  scopes: [broker:introspect]\n  max_lifetime: 1h\n`),
  );
  // The bench issuer, and a second one with replay protection: each of its tokens is single-use.
  const bench = await writeIssuerKey(work, "bench");
  const once = await writeIssuerKey(work, "once");
  // The RS256 issuer: an RSA-2048 key, kept in memory (only this process mints its tokens).
  const rs = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const rsKid = "bench-rs256";
  const rsJwks = join(work, "rs-jwks.json");
  await writeFile(rsJwks, JSON.stringify({ keys: [{ ...rs.publicKey.export({ format: "jwk" }), kid: rsKid, alg: "RS256", use: "sig" }] }));
  const issuer = (id: string, iss: string, jwks: string, replay: boolean, alg = "ES256") =>
    `  - id: ${id}\n    issuer: ${iss}\n    profile: oidc\n    keys: { jwks_file: ${jwks} }\n    algorithms: [${alg}]\n    max_token_age: 1h\n    replay_protection: ${replay}\n`;
  await writeFile(
    join(policyDir, "issuers.yaml"),
    `issuers:\n${issuer("bench", BENCH_ISSUER, bench.jwks, false)}${issuer("bench-once", ONCE_ISSUER, once.jwks, true)}${issuer("bench-rs", RS_ISSUER, rsJwks, false, "RS256")}`,
  );
  return { policyDir, benchKeyFile: bench.keyFile, benchJwks: bench.jwks, onceKeyFile: once.keyFile, rsKey: rs.privateKey, rsKid };
}

/** An ES256 issuer key: the private key (PEM) and its public JWKS, in `work`. */
export async function writeIssuerKey(work: string, name: string): Promise<{ keyFile: string; jwks: string }> {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const keyFile = join(work, `${name}-issuer.pem`);
  await writeFile(keyFile, privateKey.export({ format: "pem", type: "pkcs8" }).toString(), { mode: 0o600 });
  const kid = (await toSigningKey(privateKey)).kid;
  const jwks = join(work, `${name}-jwks.json`);
  await writeFile(jwks, JSON.stringify({ keys: [{ ...publicKey.export({ format: "jwk" }), kid, alg: "ES256", use: "sig" }] }));
  return { keyFile, jwks };
}

/** One token from the peer, checked to be a real ES256 JWT (jose, against the peer's JWKS) before its run. */
export async function checkPeerToken(peer: Server, body: string, headers: Record<string, string>): Promise<void> {
  const base = `http://127.0.0.1:${peer.port}`;
  const response = await fetch(`${base}/token`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", ...headers }, body });
  const json = (await response.json()) as { access_token?: string };
  if (!response.ok || !json.access_token) throw new Error(`oidc-provider gave no access token: ${response.status} ${JSON.stringify(json)}`);
  if (decodeProtectedHeader(json.access_token).alg !== "ES256") throw new Error("oidc-provider's access token is not ES256");
  await jwtVerify(json.access_token, createRemoteJWKSet(new URL(`${base}/jwks`)), { issuer: base, audience: "https://demo.example.com", algorithms: ["ES256"] });
}
