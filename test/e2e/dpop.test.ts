/**
 * DPoP end to end against a real broker process (test/support/broker-fixture.ts) with real loopback
 * issuers: /token binding (cnf.jkt checked with jose against the broker's published JWKS),
 * require_dpop, re-exchange, the DPoP scheme at /introspect and /admin/, metadata, the audit
 * record, and server nonces on a second broker started with BROKER_DPOP_NONCE=required.
 */
import { createRemoteJWKSet, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DPOP_ALGORITHMS } from "../../src/dpop/algorithms.js";
import { encodeForm, OIDC_SUBJECT, requestBroker, startBrokerFixture, TOKEN_TYPES, type BrokerFixture, type BrokerResponse } from "../support/broker-fixture.js";
import type { BrokerProcess } from "../support/broker-process.js";
import { ath, makeProof, proofKey, type ProofKey } from "../support/dpop-proofs.js";
import { expectRefusal } from "../support/refusal.js";

const AUDIENCE = "https://a.example.com";
const INTROSPECTOR = "dpop-introspector";
const OPERATOR = "dpop-operator";
const DPOP_ONLY = "dpop-only";

let fx: BrokerFixture;
let alice: ProofKey;
let mallory: ProofKey;

beforeAll(async () => {
  fx = await startBrokerFixture({
    policies: (brokerUrl) => ({
      "introspector.policy.yaml": {
        id: "dpop-introspector",
        issuer: "oidc",
        condition: `identity.subject == "${INTROSPECTOR}"`,
        grant: { workload_id: "rs/introspector", audiences: [brokerUrl], scopes: ["broker:introspect"], max_lifetime: "10m" },
      },
      "operator.policy.yaml": {
        id: "dpop-operator",
        issuer: "oidc",
        condition: `identity.subject == "${OPERATOR}"`,
        grant: { workload_id: "ops/alice", audiences: [brokerUrl], scopes: ["broker:admin"], max_lifetime: "10m" },
      },
      "dpop-only.policy.yaml": {
        id: "dpop-only",
        issuer: "oidc",
        condition: `identity.subject == "${DPOP_ONLY}"`,
        grant: { workload_id: "payments/api", audiences: [AUDIENCE], scopes: ["pay"], max_lifetime: "10m", require_dpop: true },
      },
    }),
  });
  [alice, mallory] = [await proofKey("ES256"), await proofKey("ES256")];
}, 60_000);

afterAll(async () => {
  await fx?.close();
}, 30_000);

/** POST /token with an optional DPoP header. */
function exchange(url: string, form: Record<string, string>, dpop?: string): Promise<BrokerResponse> {
  return requestBroker(url, "/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...(dpop === undefined ? {} : { dpop }) },
    body: encodeForm(form),
  });
}

const tokenProof = (key: ProofKey, claims: Record<string, unknown> = {}) => makeProof(key, { htm: "POST", htu: `${fx.url}/token`, ...claims });
const externalForm = async (sub: string, extra: Record<string, string> = {}) => ({ ...fx.form(await fx.issuers.oidc.mint({ sub })), ...extra });

async function boundToken(sub: string, key: ProofKey, extra: Record<string, string> = {}): Promise<string> {
  const res = await exchange(fx.url, await externalForm(sub, extra), await tokenProof(key));
  expect(res.status, res.text).toBe(200);
  return res.json.access_token as string;
}

describe("POST /token with a DPoP proof", () => {
  it("issues a token bound to the proof key: cnf.jkt verified against the broker's JWKS, token_type DPoP", async () => {
    const res = await exchange(fx.url, await externalForm(OIDC_SUBJECT, { audience: AUDIENCE, scope: "s1" }), await tokenProof(alice));
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({ token_type: "DPoP", issued_token_type: TOKEN_TYPES.accessToken, scope: "s1" });
    const { payload, protectedHeader } = await jwtVerify(res.json.access_token as string, createRemoteJWKSet(new URL(`${fx.url}/.well-known/jwks.json`)), {
      issuer: fx.url,
      audience: AUDIENCE,
      typ: "at+jwt",
      algorithms: ["ES256"],
    });
    expect(protectedHeader.typ).toBe("at+jwt");
    expect(payload.cnf).toEqual({ jkt: alice.jkt });
    const audit = fx.broker
      .logRecords()
      .filter((record) => record.channel === "audit")
      .map((record) => record.audit as Record<string, unknown>);
    expect(audit).toContainEqual(expect.objectContaining({ event: "token_exchange", decision: "allow", jti: payload.jti, dpopJkt: alice.jkt }));
  });

  it("issues a bearer token (no cnf) without a DPoP header", async () => {
    const res = await exchange(fx.url, await externalForm(OIDC_SUBJECT, { audience: AUDIENCE }));
    expect(res.status, res.text).toBe(200);
    expect(res.json.token_type).toBe("Bearer");
  });

  it("answers an invalid proof with 400 invalid_dpop_proof, RFC 6749 §5.2 JSON, no-store, nothing issued", async () => {
    // A proof for the URI a client reached through another host name: htu comes from BROKER_ISSUER_URL, not Host.
    const otherHost = await makeProof(alice, { htm: "POST", htu: `${fx.url.replace("127.0.0.1", "localhost")}/token` });
    for (const dpop of [otherHost, await tokenProof(alice, { htm: "GET" }), "garbage", `${await tokenProof(alice)}, ${await tokenProof(alice)}`]) {
      const res = await exchange(fx.url, await externalForm(OIDC_SUBJECT, { audience: AUDIENCE }), dpop);
      expect(res.status, res.text).toBe(400);
      expect(res.json.error).toBe("invalid_dpop_proof");
      expect(typeof res.json.error_description).toBe("string");
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(res.text).not.toContain("access_token");
    }
  });

  it("refuses an htu that is no RFC 3986 URI, though the WHATWG parser reads it as the token endpoint", async () => {
    const port = fx.broker.port;
    const lookalikes = [
      `http:127.0.0.1:${port}/token`,
      `http:\\\\127.0.0.1:${port}\\token`,
      ` ${fx.url}/token`,
      `${fx.url}/token `,
      `http://2130706433:${port}/token`,
      `http://0x7f.1:${port}/token`,
      `http://0177.0.0.1:${port}/token`,
      `http://127.1:${port}/token`,
    ];
    for (const htu of lookalikes) {
      // Each would pass a WHATWG-based comparison: the point of the test is that ours is not one.
      expect(new URL(htu.trim()).href).toBe(`${fx.url}/token`);
      const res = await exchange(fx.url, await externalForm(OIDC_SUBJECT, { audience: AUDIENCE }), await tokenProof(alice, { htu }));
      expectRefusal(res, { status: 400, error: "invalid_dpop_proof", description: "DPoP proof htu does not match the request URI" });
    }
    // Control: the same request with the URI as RFC 3986 spells it, in another case, is issued.
    const res = await exchange(fx.url, await externalForm(OIDC_SUBJECT, { audience: AUDIENCE }), await tokenProof(alice, { htu: `HTTP://127.0.0.1:${port}/%74oken` }));
    expect(res.status, res.text).toBe(200);
  });

  it("an external subject token bound to a key (cnf.jkt) needs a proof by that key and stays bound; x5t#S256 is refused", async () => {
    const bound = async () => fx.form(await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT, cnf: { jkt: alice.jkt } }));
    const asBearer = await exchange(fx.url, { ...(await bound()), audience: AUDIENCE });
    expectRefusal(asBearer, { status: 400, error: "invalid_request", description: "subject_token is DPoP-bound: send a DPoP proof made with its key" });
    const otherKey = await exchange(fx.url, { ...(await bound()), audience: AUDIENCE }, await tokenProof(mallory));
    expect(otherKey.json).toMatchObject({ error: "invalid_request", error_description: "subject_token is bound to a different DPoP key" });
    const res = await exchange(fx.url, { ...(await bound()), audience: AUDIENCE }, await tokenProof(alice));
    expect(res.status, res.text).toBe(200);
    expect(res.json.token_type).toBe("DPoP");
    expect(JSON.parse(Buffer.from((res.json.access_token as string).split(".")[1] ?? "", "base64url").toString())).toMatchObject({ cnf: { jkt: alice.jkt } });
    const mtls = await exchange(fx.url, { ...fx.form(await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT, cnf: { "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" } })), audience: AUDIENCE }, await tokenProof(alice));
    expect(mtls.status).toBe(400);
    expect(mtls.json.error).toBe("invalid_request");
    expect(mtls.json.error_description).toMatch(/TLS client certificate/);
  });

  it("refuses the same proof twice", async () => {
    const once = await tokenProof(alice);
    expect((await exchange(fx.url, await externalForm(OIDC_SUBJECT, { audience: AUDIENCE }), once)).status).toBe(200);
    const again = await exchange(fx.url, await externalForm(OIDC_SUBJECT, { audience: AUDIENCE }), once);
    expect(again.json).toMatchObject({ error: "invalid_dpop_proof", error_description: "DPoP proof was already used" });
  });

  it("refuses a JWT-SVID request with a proof (invalid_request)", async () => {
    const res = await exchange(fx.url, await externalForm(OIDC_SUBJECT, { audience: AUDIENCE, requested_token_type: TOKEN_TYPES.jwt }), await tokenProof(alice));
    expect(res.status).toBe(400);
    expect(res.json.error).toBe("invalid_request");
  });

  it("require_dpop: refuses a request without a proof with invalid_request, binds one with a proof", async () => {
    const refused = await exchange(fx.url, await externalForm(DPOP_ONLY));
    expectRefusal(refused, { status: 400, error: "invalid_request", description: /DPoP proof is required/ });
    const res = await exchange(fx.url, await externalForm(DPOP_ONLY), await tokenProof(alice));
    expect(res.status, res.text).toBe(200);
    expect(res.json.token_type).toBe("DPoP");
  });

  it("re-exchange: a bound token needs a proof of its own key, and stays bound", async () => {
    const bound = await boundToken(OIDC_SUBJECT, alice, { audience: AUDIENCE, scope: "s1 s2" });
    const form = { ...fx.form(bound, TOKEN_TYPES.accessToken), scope: "s1" };
    const bare = await exchange(fx.url, form);
    expect(bare.json).toMatchObject({ error: "invalid_request", error_description: "subject_token is DPoP-bound: send a DPoP proof made with its key" });
    const stolen = await exchange(fx.url, form, await tokenProof(mallory));
    expect(stolen.json).toMatchObject({ error: "invalid_request", error_description: "subject_token is bound to a different DPoP key" });
    const res = await exchange(fx.url, form, await tokenProof(alice));
    expect(res.status, res.text).toBe(200);
    expect(res.json.token_type).toBe("DPoP");
    const payload = JSON.parse(Buffer.from((res.json.access_token as string).split(".")[1] ?? "", "base64url").toString()) as Record<string, unknown>;
    expect(payload).toMatchObject({ cnf: { jkt: alice.jkt }, scope: "s1" });
  });
});

describe("the broker's bearer endpoints with a DPoP-bound token", () => {
  const introspect = (authorization: string, token: string, dpop?: string) =>
    requestBroker(fx.url, "/introspect", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization, ...(dpop === undefined ? {} : { dpop }) },
      body: encodeForm({ token }),
    });
  const introspectProof = (key: ProofKey, accessToken: string, claims: Record<string, unknown> = {}) =>
    makeProof(key, { htm: "POST", htu: `${fx.url}/introspect`, ath: ath(accessToken), ...claims });

  it("refuses a bound token sent as Bearer (RFC 9449 §7.2) with 401 invalid_token", async () => {
    const caller = await boundToken(INTROSPECTOR, alice);
    const res = await introspect(`Bearer ${caller}`, caller);
    expect(res.status).toBe(401);
    expect(res.json.error).toBe("invalid_token");
    expect(res.headers.get("www-authenticate")).toBe(`Bearer realm="${fx.url}", error="invalid_token"`);
  });

  it("accepts it with the DPoP scheme and a proof of its key; introspection returns cnf and token_type DPoP", async () => {
    const caller = await boundToken(INTROSPECTOR, alice);
    const subject = await boundToken(OIDC_SUBJECT, mallory, { audience: AUDIENCE });
    const res = await introspect(`DPoP ${caller}`, subject, await introspectProof(alice, caller));
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({ active: true, token_type: "DPoP", cnf: { jkt: mallory.jkt } });
  });

  it("answers a bad proof with 401 and a DPoP challenge naming the algorithms", async () => {
    const caller = await boundToken(INTROSPECTOR, alice);
    const algs = `algs="${DPOP_ALGORITHMS.join(" ")}"`;
    const cases: [string | undefined, string][] = [
      [undefined, "invalid_dpop_proof"],
      [await makeProof(alice, { htm: "POST", htu: `${fx.url}/introspect` }), "invalid_dpop_proof"], // no ath
      [await introspectProof(alice, `${caller}x`), "invalid_dpop_proof"], // ath of another token
      [await introspectProof(alice, caller, { htu: `${fx.url}/token` }), "invalid_dpop_proof"],
      [await introspectProof(mallory, caller), "invalid_token"], // a valid proof of another key
    ];
    for (const [dpop, error] of cases) {
      const res = await introspect(`DPoP ${caller}`, caller, dpop);
      expect(res.status, res.text).toBe(401);
      expect(res.json.error).toBe(error);
      expect(res.headers.get("www-authenticate")).toBe(`DPoP realm="${fx.url}", error="${error}", ${algs}`);
    }
    const once = await introspectProof(alice, caller);
    expect((await introspect(`DPoP ${caller}`, caller, once)).status).toBe(200);
    expect((await introspect(`DPoP ${caller}`, caller, once)).json.error).toBe("invalid_dpop_proof");
  });

  it("refuses an unbound token sent with the DPoP scheme", async () => {
    const res0 = await exchange(fx.url, await externalForm(INTROSPECTOR));
    const bearer = res0.json.access_token as string;
    const res = await introspect(`DPoP ${bearer}`, bearer, await introspectProof(alice, bearer));
    expect(res.status).toBe(401);
    expect(res.json.error).toBe("invalid_token");
  });

  it("opens /admin/ to a bound admin token only with the DPoP scheme and a proof for that path", async () => {
    const operator = await boundToken(OPERATOR, alice);
    const asBearer = await requestBroker(fx.url, "/admin/revocations", { headers: { authorization: `Bearer ${operator}` } });
    expect(asBearer.status).toBe(401);
    const proof = await makeProof(alice, { htm: "GET", htu: `${fx.url}/admin/revocations`, ath: ath(operator) });
    const res = await requestBroker(fx.url, "/admin/revocations", { headers: { authorization: `DPoP ${operator}`, dpop: proof } });
    expect(res.status, res.text).toBe(200);
    const wrongPath = await makeProof(alice, { htm: "GET", htu: `${fx.url}/admin/revocations/tokens`, ath: ath(operator) });
    const refused = await requestBroker(fx.url, "/admin/revocations", { headers: { authorization: `DPoP ${operator}`, dpop: wrongPath } });
    expect(refused.status).toBe(401);
    expect(refused.json.error).toBe("invalid_dpop_proof");
    // A percent-encoded path: htu is the path as sent. Authenticated, then 404 (no such block).
    const path = "/admin/blocks/github%2F7890%2F123456";
    const encoded = await makeProof(alice, { htm: "DELETE", htu: `${fx.url}${path}`, ath: ath(operator) });
    const lifted = await requestBroker(fx.url, path, { method: "DELETE", headers: { authorization: `DPoP ${operator}`, dpop: encoded } });
    expect(lifted.status, lifted.text).toBe(404);
  });
});

describe("metadata", () => {
  it("advertises dpop_signing_alg_values_supported (RFC 9449 §5.1): exactly the accepted algorithms", async () => {
    const res = await fx.get("/.well-known/oauth-authorization-server");
    expect(res.json.dpop_signing_alg_values_supported).toEqual([...DPOP_ALGORITHMS]);
    expect(res.json.dpop_signing_alg_values_supported).not.toContain("none");
    expect((res.json.dpop_signing_alg_values_supported as string[]).some((alg) => alg.startsWith("HS"))).toBe(false);
  });
});

describe("server nonces (BROKER_DPOP_NONCE=required)", () => {
  let nonceBroker: BrokerProcess;
  beforeAll(async () => {
    // Same issuer URL as the fixture's broker (startReplica keeps it): proofs carry that htu.
    nonceBroker = await fx.startReplica({ BROKER_DPOP_NONCE: "required" });
  }, 60_000);

  it("warns at start that a per-process nonce secret holds on this replica only", () => {
    expect(nonceBroker.logRecords().some((record) => record.level === 40 && String(record.msg).includes("BROKER_DPOP_NONCE_SECRET"))).toBe(true);
    expect(fx.broker.logRecords().some((record) => String(record.msg).includes("BROKER_DPOP_NONCE_SECRET"))).toBe(false);
  });

  it("answers a proof without a nonce with 400 use_dpop_nonce and a DPoP-Nonce; the retry with it is issued", async () => {
    const first = await exchange(nonceBroker.url, await externalForm(OIDC_SUBJECT, { audience: AUDIENCE }), await tokenProof(alice));
    expect(first.status).toBe(400);
    expect(first.json.error).toBe("use_dpop_nonce");
    const nonce = first.headers.get("dpop-nonce");
    expect(nonce).toMatch(/^[\x21\x23-\x5B\x5D-\x7E]+$/);
    const retry = await exchange(nonceBroker.url, await externalForm(OIDC_SUBJECT, { audience: AUDIENCE }), await tokenProof(alice, { nonce }));
    expect(retry.status, retry.text).toBe(200);
    expect(retry.json.token_type).toBe("DPoP");
    expect(retry.headers.get("dpop-nonce")).toBe(nonce);
  });

  it("refuses a forged nonce with use_dpop_nonce (and hands out the current one)", async () => {
    const nonce = (await exchange(nonceBroker.url, {})).headers.get("dpop-nonce") ?? "";
    const [window] = nonce.split(".");
    const res = await exchange(nonceBroker.url, await externalForm(OIDC_SUBJECT, { audience: AUDIENCE }), await tokenProof(alice, { nonce: `${window}.AAAAAAAAAAAAAAAAAAAAAA` }));
    expect(res.json.error).toBe("use_dpop_nonce");
    expect(res.headers.get("dpop-nonce")).toBe(nonce);
  });

  it("puts exactly one DPoP-Nonce on every /token answer: success, refusal, bearer request, wrong method", async () => {
    const answers = [
      await exchange(nonceBroker.url, await externalForm(OIDC_SUBJECT, { audience: AUDIENCE })),
      await exchange(nonceBroker.url, { grant_type: "nope" }),
      await requestBroker(nonceBroker.url, "/token"),
    ];
    expect(answers.map((res) => res.status)).toEqual([200, 400, 405]);
    for (const res of answers) expect(res.headers.get("dpop-nonce")).toMatch(/^[0-9a-z]+\.[A-Za-z0-9_-]{22}$/);
    // Other endpoints do not carry one.
    expect((await requestBroker(nonceBroker.url, "/healthz")).headers.get("dpop-nonce")).toBeNull();
    expect((await requestBroker(fx.url, "/token", { method: "POST" })).headers.get("dpop-nonce")).toBeNull();
  });
});
