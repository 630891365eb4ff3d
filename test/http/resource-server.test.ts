/**
 * The resource-server middleware (src/http/resource-server.ts, exported as
 * `credential-broker/resource-server`) mounted in a Hono app, against the broker in-process served on loopback: the
 * broker's JWKS fetched over HTTP by jose, tokens issued by the broker's /token, revocation through
 * its /introspect and /revoke. Proofs are signed by jose with real keys.
 */
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DPOP_ALGORITHMS } from "../../src/dpop/algorithms.js";
import { MemoryDpopReplayCache, requireBrokerAccessToken, type RequireBrokerAccessTokenOptions, type ResourceServerEnv } from "../../src/http/resource-server.js";
import { freePort } from "../support/broker-process.js";
import { encodeForm, requestBroker, startInProcessBroker, type InProcessBroker } from "../support/in-process-broker.js";
import { ath, makeProof, proofKey, type ProofKey } from "../support/dpop-proofs.js";

const RS_URL = "https://orders.example.com";
const RS_AUDIENCE = "https://orders.example.com";
const CLIENT = "orders-client";
const INTROSPECTOR = "orders-introspector";
const ALGS = `algs="${DPOP_ALGORITHMS.join(" ")}"`;

let fx: InProcessBroker;
let alice: ProofKey;
let mallory: ProofKey;
let introspector: string;

beforeAll(async () => {
  fx = await startInProcessBroker({
    listen: true,
    policies: (brokerUrl) => ({
      "orders.policy.yaml": {
        id: "orders-client",
        issuer: "oidc",
        condition: `identity.subject == "${CLIENT}"`,
        grant: { workload_id: "orders/client", audiences: [RS_AUDIENCE, "https://elsewhere.example.com"], scopes: ["orders:read", "orders:write"], max_lifetime: "10m" },
      },
      "introspector.policy.yaml": {
        id: "orders-introspector",
        issuer: "oidc",
        condition: `identity.subject == "${INTROSPECTOR}"`,
        grant: { workload_id: "orders/introspector", audiences: [brokerUrl], scopes: ["broker:introspect"], max_lifetime: "10m" },
      },
    }),
  });
  [alice, mallory] = [await proofKey("ES256"), await proofKey("ES256")];
  introspector = await issue(INTROSPECTOR, {}, undefined);
}, 60_000);

afterAll(async () => {
  await fx?.close();
}, 30_000);

/** A broker token for `sub`, bound to `key` when given. */
async function issue(sub: string, extra: Record<string, string>, key: ProofKey | undefined): Promise<string> {
  const form = { ...fx.form(await fx.issuers.oidc.mint({ sub })), ...extra };
  const dpop = key === undefined ? undefined : await makeProof(key, { htm: "POST", htu: `${fx.url}/token` });
  const res = await requestBroker(fx.url, "/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...(dpop ? { dpop } : {}) },
    body: encodeForm(form),
  });
  expect(res.status, res.text).toBe(200);
  return res.json.access_token as string;
}

const ordersToken = (key: ProofKey | undefined, scope = "orders:read") => issue(CLIENT, { audience: RS_AUDIENCE, scope }, key);

function resourceServer(options: Partial<RequireBrokerAccessTokenOptions> = {}) {
  const app = new Hono<ResourceServerEnv>();
  app.use("/orders/*", requireBrokerAccessToken({ issuer: fx.url, audience: RS_AUDIENCE, publicUrl: RS_URL, requiredScopes: ["orders:read"], ...options }));
  app.on(["GET", "POST"], "/orders/:id", (c) => {
    const access = c.get("brokerAccess");
    return c.json({ sub: access.claims.sub, jkt: access.jkt ?? null, scopes: access.scopes });
  });
  return app;
}

const proofFor = (key: ProofKey, token: string, method = "GET", url = `${RS_URL}/orders/1`, claims: Record<string, unknown> = {}) =>
  makeProof(key, { htm: method, htu: url, ath: ath(token), ...claims });

describe("requireBrokerAccessToken", () => {
  let app: Hono<ResourceServerEnv>;
  beforeAll(() => {
    app = resourceServer();
  });
  const get = (headers: Record<string, string>, path = "/orders/1", method = "GET") => app.request(path, { method, headers });

  it("challenges a request without credentials with Bearer and DPoP (RFC 9449 §7.2), no error", async () => {
    const res = await get({});
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(`Bearer, DPoP ${ALGS}`);
  });

  it("accepts a DPoP-bound token with a valid proof for the public URL and the method", async () => {
    const token = await ordersToken(alice);
    const res = await get({ authorization: `DPoP ${token}`, dpop: await proofFor(alice, token) });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toEqual({ sub: "orders/client", jkt: alice.jkt, scopes: ["orders:read"] });
    // The query is not part of htu.
    const withQuery = await get({ authorization: `DPoP ${token}`, dpop: await proofFor(alice, token) }, "/orders/1?expand=items");
    expect(withQuery.status).toBe(200);
  });

  it("refuses the same proof twice", async () => {
    const token = await ordersToken(alice);
    const proof = await proofFor(alice, token);
    expect((await get({ authorization: `DPoP ${token}`, dpop: proof })).status).toBe(200);
    const replay = await get({ authorization: `DPoP ${token}`, dpop: proof });
    expect(replay.status).toBe(401);
    expect(replay.headers.get("www-authenticate")).toBe(`DPoP error="invalid_dpop_proof", error_description="DPoP proof was already used", ${ALGS}`);
  });

  it.each([
    ["no DPoP header", async (_token: string) => undefined, "invalid_dpop_proof"],
    ["a proof without ath", async (_token: string) => makeProof(alice, { htm: "GET", htu: `${RS_URL}/orders/1` }), "invalid_dpop_proof"],
    ["a proof for another token", async (token: string) => proofFor(alice, `${token}x`), "invalid_dpop_proof"],
    ["a proof for another method", async (token: string) => proofFor(alice, token, "POST"), "invalid_dpop_proof"],
    ["a proof for the Host-derived URL", async (token: string) => proofFor(alice, token, "GET", "http://localhost/orders/1"), "invalid_dpop_proof"],
    ["a proof for another path", async (token: string) => proofFor(alice, token, "GET", `${RS_URL}/orders/2`), "invalid_dpop_proof"],
    ["a proof that is too old", async (token: string) => proofFor(alice, token, "GET", `${RS_URL}/orders/1`, { iat: Math.floor(Date.now() / 1000) - 600 }), "invalid_dpop_proof"],
    ["a valid proof of another key", async (token: string) => proofFor(mallory, token), "invalid_token"],
  ])("refuses a bound token with %s (401, DPoP challenge)", async (_what, makeDpop, error) => {
    const token = await ordersToken(alice);
    const dpop = await makeDpop(token);
    const res = await get({ authorization: `DPoP ${token}`, ...(dpop === undefined ? {} : { dpop }) });
    expect(res.status).toBe(401);
    expect(((await res.json()) as Record<string, unknown>).error).toBe(error);
    expect(res.headers.get("www-authenticate")).toMatch(new RegExp(`^DPoP error="${error}", error_description="[^"]+", algs="`));
  });

  it("refuses a bound token presented as Bearer (RFC 9449 §7.2)", async () => {
    const token = await ordersToken(alice);
    const res = await get({ authorization: `Bearer ${token}` });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(
      `Bearer error="invalid_token", error_description="a DPoP-bound token must be sent with the DPoP scheme and a proof", DPoP ${ALGS}`,
    );
  });

  it("accepts an unbound token as Bearer, and refuses it with the DPoP scheme", async () => {
    const token = await ordersToken(undefined);
    const ok = await get({ authorization: `Bearer ${token}` });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ jkt: null });
    const asDpop = await get({ authorization: `DPoP ${token}`, dpop: await proofFor(alice, token) });
    expect(asDpop.status).toBe(401);
    expect(((await asDpop.json()) as Record<string, unknown>).error).toBe("invalid_token");
  });

  it("refuses every bearer token when allowBearer is false", async () => {
    const strict = resourceServer({ allowBearer: false });
    const res = await strict.request("/orders/1", { headers: { authorization: `Bearer ${await ordersToken(undefined)}` } });
    expect(res.status).toBe(401);
    expect((await strict.request("/orders/1")).headers.get("www-authenticate")).toBe(`DPoP ${ALGS}`);
  });

  it("refuses a token for another audience, a forged token, and a malformed header", async () => {
    const elsewhere = await issue(CLIENT, { audience: "https://elsewhere.example.com", scope: "orders:read" }, undefined);
    expect((await get({ authorization: `Bearer ${elsewhere}` })).status).toBe(401);
    const [h, p] = (await ordersToken(undefined)).split(".");
    expect((await get({ authorization: `Bearer ${h}.${p}.AAAA` })).status).toBe(401);
    const malformed = await get({ authorization: "Basic dXNlcjpwYXNz" });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as Record<string, unknown>).error).toBe("invalid_request");
  });

  it("answers 403 insufficient_scope in the scheme the client used", async () => {
    const token = await ordersToken(alice, "orders:write");
    const res = await get({ authorization: `DPoP ${token}`, dpop: await proofFor(alice, token) });
    expect(res.status).toBe(403);
    expect(res.headers.get("www-authenticate")).toMatch(/^DPoP error="insufficient_scope"/);
  });
});

describe("revocation through the broker's /introspect", () => {
  it("refuses a token the broker revoked; without introspection the signature alone decides", async () => {
    const checked = resourceServer({ introspection: { url: `${fx.url}/introspect`, credential: () => introspector } });
    const unchecked = resourceServer();
    const token = await ordersToken(alice);
    const call = async (app: Hono<ResourceServerEnv>) => app.request("/orders/1", { headers: { authorization: `DPoP ${token}`, dpop: await proofFor(alice, token) } });
    expect((await call(checked)).status).toBe(200);
    const revoked = await requestBroker(fx.url, "/revoke", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: encodeForm({ token }),
    });
    expect(revoked.status).toBe(200);
    const refused = await call(checked);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: "invalid_token", error_description: "the access token is not active" });
    expect((await call(unchecked)).status).toBe(200);
  });

  it("fails closed with 503 when the broker cannot be asked", async () => {
    const down = resourceServer({ introspection: { url: `http://127.0.0.1:${await freePort()}/introspect`, credential: () => introspector, timeoutMs: 1_000 } });
    const token = await ordersToken(undefined);
    const res = await down.request("/orders/1", { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("2");
  });
});

describe("the replay cache", () => {
  it("refuses with 503 rather than forget a live proof when it is full", async () => {
    const app = resourceServer({ replayCache: new MemoryDpopReplayCache({ maxEntries: 1 }) });
    const token = await ordersToken(alice);
    const send = async () => app.request("/orders/1", { headers: { authorization: `DPoP ${token}`, dpop: await proofFor(alice, token) } });
    expect((await send()).status).toBe(200);
    expect((await send()).status).toBe(503);
  });

  it("reclaims expired entries when full", () => {
    let nowMs = 1_000_000_000;
    const cache = new MemoryDpopReplayCache({ maxEntries: 2, clock: { now: () => nowMs } });
    expect(cache.claim("a", 1_000_000 + 10)).toBe(true);
    expect(cache.claim("a", 1_000_000 + 10)).toBe(false);
    expect(cache.claim("b", 1_000_000 + 10)).toBe(true);
    expect(() => cache.claim("c", 1_000_000 + 10)).toThrow(/full/);
    nowMs += 11_000;
    expect(cache.claim("c", 1_000_000 + 30)).toBe(true);
    expect(cache.size).toBe(1);
  });
});

describe("options are checked once, at start", () => {
  it("throws on a publicUrl that is not an absolute http(s) URL", () => {
    expect(() => requireBrokerAccessToken({ issuer: "https://b.example", audience: "x", publicUrl: "orders.example.com" })).toThrow(/publicUrl/);
  });
});
