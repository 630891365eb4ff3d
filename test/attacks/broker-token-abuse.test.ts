/**
 * Replayed or abused broker tokens: a broker access token is only ever accepted as
 * subject_token_type access_token (RFC 8693 re-exchange), only with an intact signature, only
 * with typ at+jwt and only while it lives. Expired ones are crafted with the broker's own key
 * (read from the fixture's keys folder), so nothing here waits for time to pass.
 */
import { createPrivateKey, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { SignJWT, type CryptoKey, type JWTPayload } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { b64url, expectNeverAllowed } from "../support/attack-helpers.js";
import { expectRefusal } from "../support/refusal.js";
import { decodeSegment, OIDC_SUBJECT, startInProcessBroker, TOKEN_TYPES, type InProcessBroker } from "../support/in-process-broker.js";
import { generateSigningKey } from "../support/test-issuer.js";

let fx: InProcessBroker;
let issued: string;
let brokerKey: { kid: string; key: KeyObject };
/** Tokens refused in every form they were sent in (the issued token is also re-exchanged legitimately). */
const refusedTokens: string[] = [];

beforeAll(async () => {
  fx = await startInProcessBroker();
  const res = await fx.exchange({
    ...fx.form(await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT })),
    audience: ["https://a.example.com", "https://b.example.com"],
    scope: "s1 s2",
  });
  if (res.status !== 200) throw new Error(`could not obtain a broker token: ${res.text}`);
  issued = res.json.access_token as string;
  const signingDir = join(fx.keysDir, "signing");
  const { active } = JSON.parse(await readFile(join(signingDir, "keyset.json"), "utf8")) as { active: string };
  brokerKey = { kid: active, key: createPrivateKey(await readFile(join(signingDir, `${active}.pem`), "utf8")) };
});
afterAll(async () => {
  await fx?.close();
});

const reExchange = (token: string, extra: Record<string, string> = {}) =>
  fx.exchange({ ...fx.form(token, TOKEN_TYPES.accessToken), audience: "https://a.example.com", ...extra });

async function refuse(token: string, type: string, description?: RegExp): Promise<void> {
  refusedTokens.push(token);
  expectRefusal(await fx.exchange({ ...fx.form(token, type), audience: "https://a.example.com" }), { status: 400, error: "invalid_request", description });
}

/** A token signed with the broker's real key: registered claims default to a live token, `claims` override them. */
function craft(claims: JWTPayload, header: Record<string, unknown> = {}, key: KeyObject | CryptoKey = brokerKey.key): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: JWTPayload = {
    iss: fx.url,
    sub: "oidc/attenuation",
    aud: "https://a.example.com",
    client_id: "oidc/attenuation",
    scope: "s1",
    iat: now - 60,
    nbf: now - 60,
    exp: now + 300,
    jti: `crafted-${Math.random()}`,
    ...claims,
  };
  return new SignJWT(payload).setProtectedHeader({ alg: "ES256", typ: "at+jwt", kid: brokerKey.kid, ...header }).sign(key);
}

describe("broker tokens outside re-exchange", () => {
  it("control: the issued token re-exchanges as access_token", async () => {
    const res = await reExchange(issued, { scope: "s1" });
    expect(res.status, res.text).toBe(200);
  });

  it("control: a token crafted with the broker's key re-exchanges (the crafting is faithful)", async () => {
    const res = await reExchange(await craft({}));
    expect(res.status, res.text).toBe(200);
  });

  it("a broker token as subject_token_type jwt is refused", async () => {
    await refuse(issued, TOKEN_TYPES.jwt, /access_token/);
    refusedTokens.pop(); // `issued` is legitimately re-exchanged elsewhere: judged by the response only
  });

  it("a broker token as subject_token_type id_token is refused", async () => {
    await refuse(issued, TOKEN_TYPES.idToken, /access_token/);
    refusedTokens.pop();
  });

  it("a tampered payload (scope widened, signature kept) is refused", async () => {
    const [header, , signature] = issued.split(".");
    const claims = { ...decodeSegment(issued, 1), scope: "s1 s2 s3 s4" };
    await refuse(`${header}.${b64url(claims)}.${signature}`, TOKEN_TYPES.accessToken, /not a valid access token/);
  });

  it("a tampered payload (audience widened, exp extended) is refused", async () => {
    const [header, , signature] = issued.split(".");
    const original = decodeSegment(issued, 1);
    const claims = { ...original, aud: "https://c.example.com", exp: Number(original.exp) + 3600 };
    await refuse(`${header}.${b64url(claims)}.${signature}`, TOKEN_TYPES.accessToken, /not a valid access token/);
  });

  it("a stripped or truncated signature is refused", async () => {
    const [header, payload, signature = ""] = issued.split(".");
    await refuse(`${header}.${payload}.`, TOKEN_TYPES.accessToken);
    await refuse(`${header}.${payload}.${signature.slice(0, -4)}`, TOKEN_TYPES.accessToken);
    await refuse(`${b64url({ alg: "none", typ: "at+jwt" })}.${payload}.`, TOKEN_TYPES.accessToken);
  });

  it("an expired broker token (crafted with the broker's key) is refused", async () => {
    const now = Math.floor(Date.now() / 1000);
    await refuse(await craft({ iat: now - 1200, nbf: now - 1200, exp: now - 600 }), TOKEN_TYPES.accessToken, /has expired/);
  });

  it("a broker-signed token without typ at+jwt is refused (RFC 9068 §4)", async () => {
    await refuse(await craft({}, { typ: "JWT" }), TOKEN_TYPES.accessToken, /not a valid access token/);
  });

  it("an at+jwt with the broker's iss and kid but another key is refused", async () => {
    const other = await generateSigningKey("ES256");
    await refuse(await craft({}, {}, other.privateKey), TOKEN_TYPES.accessToken, /not a valid access token/);
  });

  it("a broker-signed token with another iss is refused", async () => {
    await refuse(await craft({ iss: "https://elsewhere.example.com" }), TOKEN_TYPES.accessToken, /not a valid access token/);
  });

  it("a broker-signed token missing jti or client_id is refused", async () => {
    await refuse(await craft({ jti: undefined }), TOKEN_TYPES.accessToken, /not a valid access token/);
    await refuse(await craft({ client_id: undefined }), TOKEN_TYPES.accessToken, /not a valid access token/);
  });

  it("an external identity token as subject_token_type access_token is refused", async () => {
    await refuse(await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT }), TOKEN_TYPES.accessToken, /not a valid access token/);
  });

  it("re-exchanging cannot outlive the original even when asked", async () => {
    const now = Math.floor(Date.now() / 1000);
    const shortLived = await craft({ exp: now + 30 });
    const res = await reExchange(shortLived, { requested_lifetime: "900" });
    expect(res.status, res.text).toBe(200);
    const claims = decodeSegment(res.json.access_token as string, 1);
    expect(Number(claims.exp)).toBeLessThanOrEqual(now + 30);
    expect(res.json.expires_in as number).toBeLessThanOrEqual(30);
  });

  it("none of the refused tokens was ever allowed in the audit log", async () => {
    await expectNeverAllowed(fx, refusedTokens);
  });
});
