/**
 * Issuer and audience confusion: routing by `iss` to exactly one configured issuer (an unknown
 * issuer costs no fetch), the broker's own `iss` refused as an external identity, a trusted
 * `iss` signed with another issuer's key, and `aud` that does not name this broker.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectNeverAllowed } from "../support/attack-helpers.js";
import { expectRefusal } from "../support/refusal.js";
import { OIDC_SUBJECT, startInProcessBroker, type InProcessBroker } from "../support/in-process-broker.js";
import { kubernetesClaims, startTestIssuer, type TestIssuer, type TestSigningKey } from "../support/test-issuer.js";

let fx: InProcessBroker;
let stranger: TestIssuer;
const refusedTokens: string[] = [];

beforeAll(async () => {
  fx = await startInProcessBroker();
  stranger = await startTestIssuer({ audience: fx.url });
});
afterAll(async () => {
  await Promise.all([fx?.close(), stranger?.close()]);
});

const exchange = (token: string) => fx.exchange({ ...fx.form(token), audience: "https://a.example.com" });

async function refuse(token: string, description: RegExp): Promise<void> {
  refusedTokens.push(token);
  expectRefusal(await exchange(token), { status: 400, error: "invalid_request", description });
}

const keyOf = (issuer: TestIssuer, alg: "ES256" | "RS256"): TestSigningKey => {
  const key = issuer.keys.find((candidate) => candidate.alg === alg);
  if (key === undefined) throw new Error(`no ${alg} key`);
  return key;
};

describe("issuer confusion", () => {
  it("an unknown iss is refused and that issuer receives zero requests", async () => {
    stranger.resetRequests();
    await refuse(await stranger.mint({ sub: OIDC_SUBJECT }), /issuer is not trusted/);
    expect(stranger.requests.total).toBe(0);
  });

  it("near-miss issuer URLs (trailing slash, other case, other port) are unknown too", async () => {
    const url = fx.issuers.oidc.url;
    const variants = [`${url}/`, url.replace("http://", "HTTP://"), url.replace("127.0.0.1", "localhost"), `${url}/x`];
    for (const iss of variants) {
      await refuse(await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT, iss }), /issuer is not trusted/);
    }
  });

  it("iss missing or not a string", async () => {
    await refuse(await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT, iss: undefined }), /missing the "iss" claim/);
    await refuse(await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT, iss: ["x"] }), /missing the "iss" claim/);
  });

  it("the broker's own issuer URL as iss, submitted as subject_token_type jwt", async () => {
    const token = await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT, iss: fx.url });
    await refuse(token, /access_token/);
  });

  it("a trusted iss signed with another test issuer's key (under its own kid, and under the real kid)", async () => {
    const foreign = keyOf(fx.issuers.kubernetes, "ES256");
    const claims = JSON.stringify({ ...claimsNow(), iss: fx.issuers.oidc.url, aud: fx.url, sub: OIDC_SUBJECT });
    await refuse(await fx.issuers.oidc.mintRaw(claims, { key: foreign }), /signing key is not published|signature is invalid/);
    await refuse(await fx.issuers.oidc.mintRaw(claims, { key: foreign, kid: keyOf(fx.issuers.oidc, "ES256").kid }), /signature is invalid/);
    await refuse(await fx.issuers.oidc.mintRaw(claims, { key: foreign, kid: null }), /signature is invalid|signing key/);
  });

  it("kubernetes claims under the oidc issuer's iss do not become a kubernetes identity", async () => {
    // Signed by the kubernetes issuer's key but claiming the github issuer: refused on the signature.
    const claims = JSON.stringify({ ...claimsNow(), ...kubernetesClaims(), iss: fx.issuers.github.url, aud: fx.url });
    await refuse(await fx.issuers.kubernetes.mintRaw(claims, { alg: "RS256" }), /signing key is not published|signature is invalid/);
  });
});

describe("audience confusion", () => {
  it("aud naming another service", async () => {
    await refuse(await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT, aud: "https://someone-else.example.com" }), /audience is not accepted/);
  });

  it("aud naming one of the broker's target audiences instead of the broker", async () => {
    await refuse(await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT, aud: "https://a.example.com" }), /audience is not accepted/);
  });

  it("aud that is the broker URL with a trailing slash", async () => {
    await refuse(await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT, aud: `${fx.url}/` }), /audience is not accepted/);
  });

  it("aud missing", async () => {
    await refuse(await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT, aud: undefined }), /"aud" claim/);
  });

  it("aud an empty array", async () => {
    await refuse(await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT, aud: [] }), /aud|audience/);
  });

  it("control: aud as an array that includes the broker is accepted", async () => {
    const res = await exchange(await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT, aud: ["https://other.example.com", fx.url] }));
    expect(res.status, res.text).toBe(200);
  });

  it("none of the refused tokens was ever allowed in the audit log", async () => {
    await expectNeverAllowed(fx, refusedTokens);
  });
});

function claimsNow(): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { iat: now, exp: now + 300, jti: `j-${now}-${Math.random()}` };
}
