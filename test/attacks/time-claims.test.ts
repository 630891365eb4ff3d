/**
 * Time claims of subject tokens (RFC 7519 §4.1.4-6, RFC 8725 §3.10): expired, not yet valid,
 * issued in the future, no exp, an exp that parses to Infinity, a lifetime over the issuer's
 * max_lifetime, a token older than max_token_age. The oidc test issuer is configured with
 * max_lifetime 1h, max_token_age 10m and clock_skew 30s.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectNeverAllowed } from "../support/attack-helpers.js";
import { expectRefusal } from "../support/refusal.js";
import { OIDC_SUBJECT, startInProcessBroker, type InProcessBroker } from "../support/in-process-broker.js";

let fx: InProcessBroker;
const refusedTokens: string[] = [];

beforeAll(async () => {
  fx = await startInProcessBroker();
});
afterAll(async () => {
  await fx?.close();
});

const now = () => Math.floor(Date.now() / 1000);
const mint = (claims: Record<string, unknown>) => fx.issuers.oidc.mint({ sub: OIDC_SUBJECT, ...claims });
const exchange = (token: string) => fx.exchange({ ...fx.form(token), audience: "https://a.example.com" });

async function refuse(token: string, description: RegExp): Promise<void> {
  refusedTokens.push(token);
  expectRefusal(await exchange(token), { status: 400, error: "invalid_request", description });
}

describe("time claims", () => {
  it("control: a token issued a minute ago, valid for 5 more, is accepted", async () => {
    const res = await exchange(await mint({ iat: now() - 60, nbf: now() - 60, exp: now() + 300 }));
    expect(res.status, res.text).toBe(200);
  });

  it("control: iat and nbf inside the clock skew are accepted", async () => {
    const res = await exchange(await mint({ iat: now() + 10, nbf: now() + 10, exp: now() + 300 }));
    expect(res.status, res.text).toBe(200);
  });

  it("expired (beyond the skew)", async () => {
    await refuse(await mint({ iat: now() - 600, exp: now() - 120 }), /has expired/);
  });

  it("nbf in the future (beyond the skew)", async () => {
    await refuse(await mint({ nbf: now() + 600, exp: now() + 900 }), /not yet valid/);
  });

  it("iat in the future (beyond the skew)", async () => {
    await refuse(await mint({ iat: now() + 600, exp: now() + 900 }), /issued in the future/);
  });

  it("exp missing", async () => {
    await refuse(await mint({ exp: undefined }), /missing the "exp" claim/);
  });

  it("iat missing (required for this issuer)", async () => {
    await refuse(await mint({ iat: undefined }), /missing the "iat" claim/);
  });

  it('"exp": 1e400 (parses to Infinity)', async () => {
    const token = await fx.issuers.oidc.mintRaw(
      `{"iss":${JSON.stringify(fx.issuers.oidc.url)},"aud":${JSON.stringify(fx.url)},"sub":"${OIDC_SUBJECT}","iat":${now()},"exp":1e400}`,
    );
    await refuse(token, /"exp" claim/);
  });

  it('"nbf": -1e400 and "iat": 1e400', async () => {
    const base = `"iss":${JSON.stringify(fx.issuers.oidc.url)},"aud":${JSON.stringify(fx.url)},"sub":"${OIDC_SUBJECT}","exp":${now() + 300}`;
    await refuse(await fx.issuers.oidc.mintRaw(`{${base},"iat":${now()},"nbf":-1e400}`), /"nbf" claim/);
    await refuse(await fx.issuers.oidc.mintRaw(`{${base},"iat":1e400}`), /iat|too old|future/);
  });

  it("non-numeric exp", async () => {
    await refuse(await mint({ exp: String(now() + 300) }), /"exp" claim/);
  });

  it("a lifetime over the issuer's max_lifetime (1h)", async () => {
    await refuse(await mint({ iat: now(), exp: now() + 7200 }), /lifetime is too long/);
  });

  it("a token older than max_token_age (10m) that has not expired", async () => {
    await refuse(await mint({ iat: now() - 1200, exp: now() + 300 }), /too old/);
  });

  it("none of the refused tokens was ever allowed in the audit log", async () => {
    await expectNeverAllowed(fx, refusedTokens);
  });
});
