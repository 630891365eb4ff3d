/**
 * JWT-SVIDs through /token (requested_token_type jwt), built with the real keys, minters and
 * policies, verified by jose against the `use: jwt-svid` keys of the SPIFFE bundle.
 */
import { singleCaSet } from "../../src/credentials/x509/ca-set.js";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAccessTokenMinter } from "../../src/credentials/access-token.js";
import { createBrokerTokenVerifier } from "../../src/credentials/broker-token-verifier.js";
import { FileKeyStore } from "../../src/credentials/file-key-store.js";
import { createJwtSvidMinter } from "../../src/credentials/jwt-svid.js";
import { spiffeBundle } from "../../src/credentials/x509/bundle.js";
import { createExchangeToken, type ExchangeToken } from "../../src/exchange/exchange-token.js";
import { createReExchange } from "../../src/exchange/re-exchange.js";
import type { TokenExchangeRequest } from "../../src/exchange/token-request.js";
import { TOKEN_TYPE } from "../../src/protocol/token-types.js";
import { refusal, svidHarness, TRUST_DOMAIN, type SvidHarness } from "../support/svid-harness.js";

const ISSUER = "https://broker.svid.test";
let h: SvidHarness;
let keysDir: string;
let keys: FileKeyStore;
let exchange: ExchangeToken;

function request(token: string, overrides: Partial<TokenExchangeRequest> = {}): TokenExchangeRequest {
  return {
    subjectToken: token,
    subjectTokenType: TOKEN_TYPE.jwt,
    requestedTokenType: "jwt",
    audiences: [],
    resources: [],
    scopes: [],
    requestedLifetimeSeconds: undefined,
    ...overrides,
  };
}

const call = (req: TokenExchangeRequest) => exchange({ request: req, requestId: "r", clientAddress: "10.0.0.1" });

beforeAll(async () => {
  h = await svidHarness();
  keysDir = await mkdtemp(join(tmpdir(), "jwt-svid-"));
  keys = await FileKeyStore.generate(join(keysDir, "signing"));
  const minter = createAccessTokenMinter({ issuer: ISSUER, keys, clock: h.clock });
  const brokerTokens = createBrokerTokenVerifier({ issuer: ISSUER, keys, clock: h.clock });
  exchange = createExchangeToken({
    verifier: h.verifier,
    revocations: h.store,
    reExchange: createReExchange({ brokerTokens, minter, revocations: h.store, clock: h.clock, issuer: ISSUER, maxLifetimeSeconds: 900 }),
    policies: () => h.policies,
    minter,
    jwtSvids: createJwtSvidMinter({ issuer: ISSUER, keys, clock: h.clock }),
    audit: { record: (event) => h.audit.push(event) },
    clock: h.clock,
    maxLifetimeSeconds: 900,
  });
});
afterAll(async () => {
  await h?.close();
  await rm(keysDir, { recursive: true, force: true });
});

describe("a JWT-SVID", () => {
  it("RFC 8693 §2.2.1: issued_token_type jwt and token_type N_A (not an access token); no scope", async () => {
    const res = await call(request("ledger", { audiences: ["https://ledger-db.example.com"] }));
    expect(res.issued_token_type).toBe(TOKEN_TYPE.jwt);
    expect(res.token_type).toBe("N_A");
    expect(res.scope).toBeUndefined();
    expect(res.expires_in).toBe(900);
  });

  it("verifies with jose against the bundle's jwt-svid keys; sub is the SPIFFE ID, aud the asked audience", async () => {
    const res = await call(request("ledger", { audiences: ["https://audit.example.com"] }));
    const bundle = spiffeBundle(singleCaSet(h.ca), keys.publishedKeys(), keys.keysRevision());
    const jwtKeys = bundle.keys.filter((key) => key.use === "jwt-svid");
    expect(jwtKeys).toHaveLength(1);
    expect(jwtKeys[0]?.kid).toBe(keys.activeKey().kid);
    // A SPIFFE bundle consumer takes the jwt-svid keys as signature keys (jose skips any `use` but "sig").
    const { payload, protectedHeader } = await jwtVerify(res.access_token, createLocalJWKSet({ keys: jwtKeys.map(({ use: _use, ...key }) => key) }), {
      audience: "https://audit.example.com",
      algorithms: ["ES256"],
      currentDate: new Date(h.clock.now()),
    });
    expect(payload.sub).toBe(`spiffe://${TRUST_DOMAIN}/ns/payments/sa/ledger`);
    expect(payload.aud).toBe("https://audit.example.com");
    expect(payload.exp).toBe(h.clock.now() / 1000 + 900);
    expect(typeof payload.iat).toBe("number");
    expect(typeof payload.jti).toBe("string");
    expect(payload.scope).toBeUndefined();
    // JWT-SVID §2: only alg, kid and typ (JWT or JOSE) in the header.
    expect(Object.keys(protectedHeader).sort()).toEqual(["alg", "kid", "typ"]);
    expect(protectedHeader.typ).toBe("JWT");
    expect(decodeProtectedHeader(res.access_token).alg).toBe("ES256");
  });

  it("aud is required: with several granted audiences, one must be asked; an ungranted one is invalid_target", async () => {
    expect((await refusal(call(request("ledger")))).code).toBe("invalid_target");
    expect((await refusal(call(request("ledger", { audiences: ["https://evil.example.com"] })))).code).toBe("invalid_target");
  });

  it("a scope cannot be asked for; a grant without jwt refuses it", async () => {
    expect((await refusal(call(request("ledger", { audiences: ["https://audit.example.com"], scopes: ["ledger:read"] })))).code).toBe("invalid_scope");
    expect((await refusal(call(request("billing")))).description).toMatch(/not granted/);
  });

  it("is no broker access token: the broker's own verifier (typ at+jwt) refuses it", async () => {
    const res = await call(request("ledger", { audiences: ["https://audit.example.com"] }));
    const verifier = createBrokerTokenVerifier({ issuer: ISSUER, keys, clock: h.clock });
    expect((await refusal(verifier.verify(res.access_token))).code).toBe("invalid_request");
    // Nor can it be re-exchanged as a broker access token.
    expect((await refusal(call(request(res.access_token, { subjectTokenType: TOKEN_TYPE.accessToken, requestedTokenType: "access_token" })))).code).toBe("invalid_request");
  });

  it("a broker access token cannot be exchanged for a JWT-SVID", async () => {
    const access = await call(request("ledger", { requestedTokenType: "access_token", audiences: ["https://audit.example.com"] }));
    const error = await refusal(call(request(access.access_token, { subjectTokenType: TOKEN_TYPE.accessToken, audiences: ["https://audit.example.com"] })));
    expect(error.description).toMatch(/external subject_token/);
  });

  it("is audited with its SPIFFE ID", () => {
    expect(h.audit).toContainEqual(expect.objectContaining({ event: "token_exchange", decision: "allow", requestedTokenType: "jwt", spiffeId: `spiffe://${TRUST_DOMAIN}/ns/payments/sa/ledger` }));
  });
});
