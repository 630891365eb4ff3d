/**
 * DPoP binding through the exchange use case with its real collaborators (policies from YAML, keys,
 * minter, broker-token verifier, the real proof verifier, an in-memory store); only the identity
 * verifier is a fake, so identities are named by their token text. Proofs are signed by jose.
 */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeJwt } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import type { AuditEvent } from "../../src/audit/audit-event.js";
import { createAccessTokenMinter } from "../../src/credentials/access-token.js";
import { createBrokerTokenVerifier } from "../../src/credentials/broker-token-verifier.js";
import { FileKeyStore } from "../../src/credentials/file-key-store.js";
import { createVerifyActor } from "../../src/authorization/verify-actor.js";
import { createExchangeToken, type ExchangeToken } from "../../src/exchange/exchange-token.js";
import { createReExchange } from "../../src/exchange/re-exchange.js";
import type { TokenExchangeRequest } from "../../src/exchange/token-request.js";
import { TOKEN_TYPE } from "../../src/protocol/token-types.js";
import { createDpopProofVerifier } from "../../src/dpop/verify-proof.js";
import { ManualClock } from "../../src/lib/clock.js";
import { loadPolicySet } from "../../src/policy/index.js";
import { createIntrospectToken } from "../../src/introspection/introspect-token.js";
import { MemoryRevocationStore } from "../../src/revocation/memory-revocation-store.js";
import { NOW, subject, tempDir } from "../support/policy.js";
import { makeProof, proofKey, type ProofKey } from "../support/dpop-proofs.js";
import { FixedVerifier } from "../support/fixed-verifier.js";
import { exchangeRequest } from "../support/exchange-request.js";

const ISSUER = "https://broker.test";
const TOKEN_URL = `${ISSUER}/token`;
const AUDIENCE = "https://demo.example.com";

const POLICIES = {
  "bound.policy.yaml": `id: bound
issuer: local-dev
condition: identity.subject == "bound-workload"
grant:
  workload_id: bound-workload
  audiences: [${AUDIENCE}]
  scopes: [read, write]
  max_lifetime: 10m
  require_dpop: true
`,
  "open.policy.yaml": `id: open
issuer: local-dev
condition: identity.subject == "demo-workload"
grant:
  workload_id: demo-workload
  audiences: [${AUDIENCE}]
  scopes: [read, write]
  max_lifetime: 10m
  token_types: [access_token, jwt]
  spiffe_id: spiffe://broker.local/demo
  delegation:
    actor_condition: actor.identity.issuer == "broker"
`,
  "ext-actor.policy.yaml": `id: ext-actor
issuer: local-dev
condition: identity.subject == "ext-demo"
grant:
  workload_id: ext-demo
  audiences: [${AUDIENCE}]
  max_lifetime: 10m
  delegation:
    actor_condition: actor.identity.subject == "agent"
`,
  "agent.policy.yaml": `id: agent
issuer: local-dev
condition: identity.subject == "agent"
grant:
  workload_id: agent
  audiences: [${AUDIENCE}]
  max_lifetime: 10m
`,
};


const request = exchangeRequest;

describe("DPoP binding at the token endpoint", () => {
  const clock = new ManualClock(NOW * 1000);
  const audit: AuditEvent[] = [];
  const store = new MemoryRevocationStore(clock);
  let exchange: ExchangeToken;
  let introspect: ReturnType<typeof createIntrospectToken>;
  let alice: ProofKey;
  let mallory: ProofKey;

  beforeAll(async () => {
    const keys = await FileKeyStore.generate(await mkdtemp(join(tmpdir(), "broker-keys-")));
    const policySet = await loadPolicySet((await tempDir(POLICIES)).dir, { knownIssuers: [{ id: "local-dev", profile: "oidc" }] });
    const policies = () => policySet;
    const minter = createAccessTokenMinter({ issuer: ISSUER, keys, clock });
    const brokerTokens = createBrokerTokenVerifier({ issuer: ISSUER, keys, clock });
    [alice, mallory] = [await proofKey("ES256"), await proofKey("ES256")];
    const jktBound = { cnf: { jkt: alice.jkt } };
    const verifier = new FixedVerifier({
      "jkt-bound": subject({}, jktBound),
      "jkt-bound-once": { ...subject({}, jktBound), replayKey: "local-dev:jti:jkt-once" },
      "x5t-bound": subject({}, { cnf: { "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" } }),
      "x5t-and-jkt": subject({}, { cnf: { jkt: alice.jkt, "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" } }),
      "jwk-bound": subject({}, { cnf: { jwk: alice.publicJwk } }),
      "odd-bound": subject({}, { cnf: { "made-up": 1 } }),
      "cnf-string": subject({}, { cnf: alice.jkt }),
      "cnf-empty": subject({}, { cnf: {} }),
      "jkt-short": subject({}, { cnf: { jkt: "abc" } }),
      "ext-demo": subject({ subject: "ext-demo" }),
      "agent-bound": subject({ subject: "agent" }, jktBound),
      demo: subject(),
      bound: subject({ subject: "bound-workload" }),
      "bound-single-use": { ...subject({ subject: "bound-workload" }), replayKey: "local-dev:jti:single" },
      agent: subject({ subject: "agent" }),
    });
    const proofs = createDpopProofVerifier({ clock, windowSeconds: 60, claimOnce: (k, e) => store.claimOnce(k, e) });
    introspect = createIntrospectToken({ brokerTokens, revocations: store });
    exchange = createExchangeToken({
      verifier,
      reExchange: createReExchange({ brokerTokens, minter, revocations: store, clock, issuer: ISSUER, maxLifetimeSeconds: 900, policies }),
      // This suite is about key binding: a broker actor token's audience is left to test/exchange/delegation.test.ts.
      verifyActor: createVerifyActor({ verifier, brokerTokens, revocations: store, policies, issuer: ISSUER, ownTokenAudience: "any" }),
      verifyDpopProof: (proof) => proofs.verify(proof, { method: "POST", url: TOKEN_URL }),
      policies,
      minter,
      jwtSvids: undefined,
      audit: { record: (event) => audit.push(event) },
      revocations: store,
      clock,
      maxLifetimeSeconds: 900,
    });
  });

  const proof = (key: ProofKey) => makeProof(key, { htm: "POST", htu: TOKEN_URL }, { nowSeconds: NOW });
  const call = async (req: TokenExchangeRequest, key?: ProofKey) =>
    exchange({ request: req, requestId: "r", clientAddress: "127.0.0.1", ...(key ? { dpopProof: await proof(key) } : {}) });
  const broker = (token: string, overrides: Partial<TokenExchangeRequest> = {}) => request(token, { subjectTokenType: TOKEN_TYPE.accessToken, ...overrides });

  it("binds the issued token to the proof key (cnf.jkt, token_type DPoP) and records the jkt", async () => {
    const res = await call(request("demo"), alice);
    expect(res.token_type).toBe("DPoP");
    expect(decodeJwt(res.access_token).cnf).toEqual({ jkt: alice.jkt });
    expect(audit.at(-1)).toMatchObject({ decision: "allow", dpopJkt: alice.jkt });
    expect(await introspect(res.access_token)).toMatchObject({ active: true, token_type: "DPoP", cnf: { jkt: alice.jkt } });
  });

  it("issues a bearer token without a proof, with no cnf", async () => {
    const res = await call(request("demo"));
    expect(res.token_type).toBe("Bearer");
    expect(decodeJwt(res.access_token)).not.toHaveProperty("cnf");
    expect(await introspect(res.access_token)).toMatchObject({ active: true, token_type: "Bearer" });
    expect(await introspect(res.access_token)).not.toHaveProperty("cnf");
  });

  it("records the jkt of a verified proof in the audit record of a later denial", async () => {
    await expect(call(request("demo", { scopes: ["admin"] }), alice)).rejects.toMatchObject({ code: "invalid_scope" });
    expect(audit.at(-1)).toMatchObject({ decision: "deny", dpopJkt: alice.jkt });
  });

  it("refuses an invalid proof with invalid_dpop_proof before anything else", async () => {
    const badProof = await makeProof(alice, { htm: "GET", htu: TOKEN_URL }, { nowSeconds: NOW });
    await expect(exchange({ request: request("demo"), requestId: "r", clientAddress: "x", dpopProof: badProof })).rejects.toMatchObject({ code: "invalid_dpop_proof" });
  });

  it("refuses a JWT-SVID with a proof (a JWT-SVID has no cnf) with invalid_request", async () => {
    await expect(call(request("demo", { requestedTokenType: "jwt" }), alice)).rejects.toMatchObject({
      code: "invalid_request",
      description: expect.stringMatching(/JWT-SVID cannot be DPoP-bound/) as unknown,
    });
  });

  describe("require_dpop", () => {
    it("refuses a request without a proof with invalid_request, and binds one with a proof", async () => {
      await expect(call(request("bound"))).rejects.toMatchObject({ code: "invalid_request", description: expect.stringMatching(/DPoP proof is required/) as unknown });
      expect(audit.at(-1)).toMatchObject({ decision: "deny", policy: "bound" });
      const res = await call(request("bound"), alice);
      expect(res.token_type).toBe("DPoP");
      expect(decodeJwt(res.access_token).cnf).toEqual({ jkt: alice.jkt });
    });

    it("refuses before the single-use subject token is claimed: the same token with a proof still works", async () => {
      await expect(call(request("bound-single-use"))).rejects.toMatchObject({ code: "invalid_request" });
      await expect(call(request("bound-single-use"), alice)).resolves.toMatchObject({ token_type: "DPoP" });
      await expect(call(request("bound-single-use"), alice)).rejects.toMatchObject({ description: "subject_token was already used" });
    });
  });

  describe("re-exchange of a bound token", () => {
    it("needs a proof of the same key, and the new token stays bound", async () => {
      const bound = (await call(request("demo"), alice)).access_token;
      await expect(call(broker(bound))).rejects.toMatchObject({ code: "invalid_request", description: "subject_token is DPoP-bound: send a DPoP proof made with its key" });
      await expect(call(broker(bound), mallory)).rejects.toMatchObject({ code: "invalid_request", description: "subject_token is bound to a different DPoP key" });
      const again = await call(broker(bound, { scopes: ["read"] }), alice);
      expect(again.token_type).toBe("DPoP");
      expect(decodeJwt(again.access_token)).toMatchObject({ cnf: { jkt: alice.jkt }, scope: "read" });
      expect(audit.at(-1)).toMatchObject({ decision: "allow", dpopJkt: alice.jkt });
    });

    it("binds an unbound token's narrower successor when a proof comes with it", async () => {
      const bearer = (await call(request("demo"))).access_token;
      const res = await call(broker(bearer), mallory);
      expect(res.token_type).toBe("DPoP");
      expect(decodeJwt(res.access_token).cnf).toEqual({ jkt: mallory.jkt });
    });
  });

  describe("an external subject token bound to a key (RFC 7800 cnf)", () => {
    it("cnf.jkt: needs a DPoP proof by that key, and the issued token stays bound to it", async () => {
      await expect(call(request("jkt-bound"))).rejects.toMatchObject({ code: "invalid_request", description: "subject_token is DPoP-bound: send a DPoP proof made with its key" });
      await expect(call(request("jkt-bound"), mallory)).rejects.toMatchObject({ code: "invalid_request", description: "subject_token is bound to a different DPoP key" });
      expect(audit.at(-1)).toMatchObject({ decision: "deny", dpopJkt: mallory.jkt });
      const res = await call(request("jkt-bound"), alice);
      expect(res.token_type).toBe("DPoP");
      expect(decodeJwt(res.access_token).cnf).toEqual({ jkt: alice.jkt });
    });

    it("cnf.jkt: refused before a single-use token is claimed, so the holder of the key can still use it", async () => {
      await expect(call(request("jkt-bound-once"), mallory)).rejects.toMatchObject({ code: "invalid_request" });
      await expect(call(request("jkt-bound-once"), alice)).resolves.toMatchObject({ token_type: "DPoP" });
    });

    it.each([
      ["x5t-bound", /bound to a TLS client certificate \(cnf x5t#S256, RFC 8705\)/],
      ["x5t-and-jkt", /bound to a TLS client certificate/],
      ["jwk-bound", /confirmation method this broker cannot verify \(cnf jwk\)/],
      ["odd-bound", /confirmation method this broker cannot verify \(an unknown cnf member\)/],
      ["cnf-string", /malformed cnf claim/],
      ["cnf-empty", /malformed cnf claim/],
      ["jkt-short", /malformed cnf claim/],
    ])("%s: refused with invalid_request, with or without a proof, never issued as bearer", async (token, description) => {
      for (const key of [undefined, alice]) {
        await expect(call(request(token), key)).rejects.toMatchObject({ code: "invalid_request", description: expect.stringMatching(description) as unknown });
      }
    });
  });

  describe("an external actor_token bound to a key", () => {
    const asExternalActor = (token: string) => ({ actorToken: { token, type: TOKEN_TYPE.jwt } });

    it("needs a proof by its key; the delegated token is bound to it", async () => {
      await expect(call(request("ext-demo", asExternalActor("agent-bound")))).rejects.toMatchObject({ code: "invalid_request", description: "actor_token is DPoP-bound: send a DPoP proof made with its key" });
      await expect(call(request("ext-demo", asExternalActor("agent-bound")), mallory)).rejects.toMatchObject({ code: "invalid_request", description: "actor_token is bound to a different DPoP key" });
      const res = await call(request("ext-demo", asExternalActor("agent-bound")), alice);
      expect(decodeJwt(res.access_token)).toMatchObject({ act: { sub: "agent" }, cnf: { jkt: alice.jkt } });
    });

    it("bound by x5t#S256: refused", async () => {
      await expect(call(request("ext-demo", asExternalActor("x5t-bound")), alice)).rejects.toMatchObject({ code: "invalid_request", description: expect.stringMatching(/^actor_token is bound to a TLS client certificate/) as unknown });
    });
  });

  describe("a bound broker token as actor_token", () => {
    const asActor = (token: string) => ({ actorToken: { token, type: TOKEN_TYPE.accessToken } });

    it("needs a proof of the actor token's key; the delegated token is bound to it", async () => {
      const agentToken = (await call(request("agent"), alice)).access_token;
      await expect(call(request("demo", asActor(agentToken)))).rejects.toMatchObject({ code: "invalid_request", description: "actor_token is DPoP-bound: send a DPoP proof made with its key" });
      await expect(call(request("demo", asActor(agentToken)), mallory)).rejects.toMatchObject({ code: "invalid_request", description: "actor_token is bound to a different DPoP key" });
      const res = await call(request("demo", asActor(agentToken)), alice);
      expect(decodeJwt(res.access_token)).toMatchObject({ act: { sub: "agent" }, cnf: { jkt: alice.jkt } });
    });
  });
});
