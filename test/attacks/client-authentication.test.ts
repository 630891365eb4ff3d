/**
 * Client authentication the broker does not do (RFC 6749 §2.3, §5.2): its clients are public and
 * the subject token authenticates the workload, so a request that carries client credentials is
 * refused with invalid_client instead of being answered as if they had been checked. Raw fetch
 * against the whole broker in-process (no OAuth client library is installed), as a client using
 * client_secret_basic, client_secret_post or private_key_jwt would send it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKeyAndCsr } from "../../src/cli/svid-client.js";
import { makeProof, proofKey } from "../support/dpop-proofs.js";
import { expectRefusal } from "../support/refusal.js";
import { encodeForm, OIDC_SUBJECT, startInProcessBroker, TOKEN_TYPES, type InProcessBroker, type BrokerResponse } from "../support/in-process-broker.js";

let fx: InProcessBroker;

beforeAll(async () => {
  fx = await startInProcessBroker();
}, 60_000);
afterAll(async () => {
  await fx?.close();
});

const AUDIENCE = "https://a.example.com";
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`;

async function exchangeForm(extra: Record<string, string> = {}): Promise<Record<string, string>> {
  return { ...fx.form(await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT })), audience: AUDIENCE, ...extra };
}

function post(path: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<BrokerResponse> {
  return fx.request(path, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: encodeForm(form),
  });
}

describe("POST /token with client credentials", () => {
  it.each([
    ["client_secret_basic with a wrong secret", "Basic", basic("some-client", "wrong-secret")],
    ["Basic in lower case", "Basic", basic("x", "y").replace("Basic", "basic")],
    ["a Bearer token", "Bearer", "Bearer abc.def.ghi"],
    ["a DPoP-scheme token", "DPoP", "DPoP abc.def.ghi"],
    ["an unknown scheme", "Negotiate", "Negotiate YIIBhwYGKwYBBQUCoIIBezCCAXeg"],
  ])("%s → 401 invalid_client with a %s challenge, and no token", async (_name, scheme, authorization) => {
    const res = await post("/token", await exchangeForm(), { authorization });
    expectRefusal(res, { status: 401, error: "invalid_client", description: /client authentication is not supported/ });
    expect(res.headers.get("www-authenticate")).toBe(`${scheme} realm="${fx.url}"`);
  });

  it.each([
    ["client_secret (client_secret_post)", { client_id: "some-client", client_secret: "wrong-secret" }],
    ["client_assertion (private_key_jwt)", { client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", client_assertion: "eyJhbGciOiJFUzI1NiJ9.e30.c2ln" }],
    ["client_assertion_type alone", { client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" }],
  ])("%s in the body → 400 invalid_client without a challenge, and no token", async (_name, extra) => {
    const res = await post("/token", await exchangeForm(extra));
    expectRefusal(res, { status: 400, error: "invalid_client", description: /client authentication is not supported/ });
    expect(res.headers.get("www-authenticate")).toBeNull();
  });

  it("a malformed Authorization header → 400 invalid_request", async () => {
    expectRefusal(await post("/token", await exchangeForm(), { authorization: "@@@ nonsense" }), { status: 400, error: "invalid_request", description: /Authorization header is malformed/ });
  });

  it("still issues to a public client: a bare client_id, and a DPoP header (which is not client authentication)", async () => {
    const withClientId = await post("/token", await exchangeForm({ client_id: "ci-runner" }));
    expect(withClientId.status, withClientId.text).toBe(200);
    expect(withClientId.json.token_type).toBe("Bearer");
    const key = await proofKey();
    const dpop = await makeProof(key, { htm: "POST", htu: `${fx.url}/token` });
    const bound = await post("/token", await exchangeForm({ client_id: "ci-runner" }), { dpop });
    expect(bound.status, bound.text).toBe(200);
    expect(bound.json.token_type).toBe("DPoP");
  });

  it("advertises exactly that in the metadata (RFC 8414): auth method none, no JWT client-auth algorithms", async () => {
    for (const path of ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]) {
      const metadata = (await fx.get(path)).json;
      expect(metadata.token_endpoint_auth_methods_supported).toEqual(["none"]);
      expect(metadata.revocation_endpoint_auth_methods_supported).toEqual(["none"]);
      expect(metadata).not.toHaveProperty("token_endpoint_auth_signing_alg_values_supported");
    }
  });
});

describe("the other public-client endpoints", () => {
  it("POST /svid/x509 refuses Basic (401, Basic challenge) and client_secret (400) before the CSR or the token is looked at", async () => {
    const { csrPem } = await generateKeyAndCsr("ec-p256");
    const form = { subject_token: await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT }), subject_token_type: TOKEN_TYPES.jwt, csr: csrPem };
    const header = await post("/svid/x509", form, { authorization: basic("svid-client", "secret") });
    expectRefusal(header, { status: 401, error: "invalid_client" });
    expect(header.headers.get("www-authenticate")).toBe(`Basic realm="${fx.url}"`);
    expectRefusal(await post("/svid/x509", { ...form, client_secret: "secret" }), { status: 400, error: "invalid_client" });
  });

  it("POST /revoke (RFC 7009) refuses Basic and client_secret, and revokes nothing then", async () => {
    const issued = await post("/token", await exchangeForm());
    const token = issued.json.access_token as string;
    const header = await post("/revoke", { token }, { authorization: basic("revoker", "secret") });
    expectRefusal(header, { status: 401, error: "invalid_client" });
    expect(header.headers.get("www-authenticate")).toBe(`Basic realm="${fx.url}"`);
    expectRefusal(await post("/revoke", { token, client_secret: "secret" }), { status: 400, error: "invalid_client" });
    // The token was not revoked: it can still be re-exchanged.
    const again = await post("/token", { ...fx.form(token, TOKEN_TYPES.accessToken), audience: AUDIENCE });
    expect(again.status, again.text).toBe(200);
  });
});
