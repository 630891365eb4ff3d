/**
 * Explicit typing (RFC 8725 §3.11) and the id_token token type (RFC 8693 §3), through the whole broker
 * in-process and real loopback issuers: a token its issuer typed as something else is no identity;
 * `typ` is compared as a media type (RFC 7515 §4.1.9); an issuer may declare the types its tokens
 * carry; `subject_token_type` id_token takes OpenID Connect ID tokens only.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OIDC_SUBJECT, startInProcessBroker, TOKEN_TYPES, type InProcessBroker } from "../support/in-process-broker.js";
import { expectNeverAllowed, verifiedTokenCacheLookups } from "../support/attack-helpers.js";
import { expectRefusal } from "../support/refusal.js";
import type { TestIssuer } from "../support/test-issuer.js";

const AUDIENCE = "https://a.example.com";

let fx: InProcessBroker;
/** Declares `typ: [JWT, at+jwt]` and does not require `iat`: an IdP whose access tokens identify workloads. */
let accessTokens: TestIssuer;

beforeAll(async () => {
  fx = await startInProcessBroker({
    extraIssuers: 1,
    extraEntries: ([issuer]) => [
      { id: "at-issuer", issuer: issuer?.url ?? "", profile: "oidc", keys: { jwks_uri: issuer?.jwksUrl ?? "" }, algorithms: ["ES256"], typ: ["JWT", "at+jwt"], require_iat: false },
    ],
    policies: {
      "at-issuer.policy.yaml": {
        id: "e2e-at-issuer",
        issuer: "at-issuer",
        condition: `identity.subject == "${OIDC_SUBJECT}"`,
        grant: { workload_id: "wl-at", audiences: [AUDIENCE], max_lifetime: "10m" },
      },
    },
  });
  accessTokens = fx.extra[0] as TestIssuer;
}, 60_000);
afterAll(async () => {
  await fx?.close();
});

const exchange = (token: string, type: string = TOKEN_TYPES.jwt) => fx.exchange({ ...fx.form(token, type), audience: AUDIENCE });

describe("typ: tokens that are something else are not identities", () => {
  it.each(["logout+jwt", "secevent+jwt", "dpop+jwt", "application/logout+jwt", "at+jwt", "JOSE", 42])("refuses typ %s from an issuer that did not declare it", async (typ) => {
    const token = await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT }, { header: { typ } });
    expectRefusal(await exchange(token), { status: 400, error: "invalid_request", description: /^subject_token type is not accepted$/ });
    await expectNeverAllowed(fx, [token]);
  });

  it.each([undefined, "JWT", "jwt", "application/jwt", "Application/JWT"])("accepts typ %s (RFC 7515 §4.1.9: one media type)", async (typ) => {
    const token = await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT }, { header: { typ } });
    const res = await exchange(token);
    expect(res.status, res.text).toBe(200);
  });

  it("accepts a typ its issuer declared (at+jwt), and still refuses one it did not", async () => {
    expect((await exchange(await accessTokens.mint({ sub: OIDC_SUBJECT }, { header: { typ: "at+jwt" } }))).status).toBe(200);
    expectRefusal(await exchange(await accessTokens.mint({ sub: OIDC_SUBJECT }, { header: { typ: "secevent+jwt" } })), { status: 400, error: "invalid_request" });
  });

  it("refuses to start when an issuer declares a type that marks other tokens", async () => {
    const started = startInProcessBroker({
      extraIssuers: 1,
      extraEntries: ([issuer]) => [{ id: "confused", issuer: issuer?.url ?? "", profile: "oidc", keys: { jwks_uri: issuer?.jwksUrl ?? "" }, typ: ["JWT", "dpop+jwt"] }],
    });
    await expect(started).rejects.toThrow(/issuers\[5\] \(id \\?"confused\\?"\) typ\[1\]: dpop\+jwt marks tokens that are not identity tokens/);
  }, 60_000);
});

describe("subject_token_type id_token means an OpenID Connect ID token", () => {
  it("accepts an ID token as id_token", async () => {
    const res = await exchange(await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT }), TOKEN_TYPES.idToken);
    expect(res.status, res.text).toBe(200);
  });

  it("refuses an access token (typ at+jwt) as id_token, though the same token is fine as jwt, from the verified-token cache too", async () => {
    const token = await accessTokens.mint({ sub: OIDC_SUBJECT }, { header: { typ: "at+jwt" } });
    const description = /^subject_token is an access token \(typ at\+jwt\), not an ID token$/;
    // Verified in full: refused as id_token, fine as jwt (that second verification caches it).
    expectRefusal(await exchange(token, TOKEN_TYPES.idToken), { status: 400, error: "invalid_request", description });
    expect((await exchange(token)).status).toBe(200);
    // Now answered by the cache: the id_token rule must still apply.
    await expectCacheHit(async () => expectRefusal(await exchange(token, TOKEN_TYPES.idToken), { status: 400, error: "invalid_request", description }));
  });

  it("refuses a token without iat as id_token (OIDC Core §2), though its issuer does not require iat for jwt, from the verified-token cache too", async () => {
    const token = await accessTokens.mint({ sub: OIDC_SUBJECT, iat: undefined });
    const description = /^subject_token is not an ID token: it has no "iat" claim$/;
    expectRefusal(await exchange(token, TOKEN_TYPES.idToken), { status: 400, error: "invalid_request", description });
    expect((await exchange(token)).status).toBe(200);
    await expectCacheHit(async () => expectRefusal(await exchange(token, TOKEN_TYPES.idToken), { status: 400, error: "invalid_request", description }));
  });
});

/** Runs `step` and asserts the verified-token cache answered exactly one lookup during it. */
async function expectCacheHit(step: () => Promise<void>): Promise<void> {
  const before = await verifiedTokenCacheLookups(fx);
  await step();
  const after = await verifiedTokenCacheLookups(fx);
  expect(after.hit - before.hit, "the token was answered by the verified-token cache").toBe(1);
}
