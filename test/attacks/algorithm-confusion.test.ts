/**
 * Algorithm confusion (RFC 8725 §2.1, §3.1): `alg: none`, HS256 keyed with the issuer's public
 * key, an RSA signature under the EC key's kid, and algorithms outside the issuer's allowlist.
 * Every one is 400 invalid_request and issues nothing.
 */
import { createPublicKey } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { b64url, claimsFor, expectNeverAllowed, hs256Jws } from "../support/attack-helpers.js";
import { expectRefusal } from "../support/refusal.js";
import { OIDC_SUBJECT, startInProcessBroker, type InProcessBroker } from "../support/in-process-broker.js";
import { githubActionsClaims, type TestSigningKey } from "../support/test-issuer.js";

let fx: InProcessBroker;
const refusedTokens: string[] = [];

beforeAll(async () => {
  fx = await startInProcessBroker();
});
afterAll(async () => {
  await fx?.close();
});

const oidcClaims = () => claimsFor(fx.issuers.oidc.url, fx.url, { sub: OIDC_SUBJECT });
const keyOf = (alg: "ES256" | "RS256"): TestSigningKey => {
  const key = fx.issuers.oidc.keys.find((candidate) => candidate.alg === alg);
  if (key === undefined) throw new Error(`no ${alg} key`);
  return key;
};

async function refuse(token: string, description?: RegExp): Promise<void> {
  refusedTokens.push(token);
  const res = await fx.exchange({ ...fx.form(token), audience: "https://a.example.com" });
  expectRefusal(res, { status: 400, error: "invalid_request", description });
}

describe("algorithm confusion", () => {
  it("control: a correctly signed token of the same issuer is accepted", async () => {
    const res = await fx.exchange({ ...fx.form(await fx.issuers.oidc.mintRaw(JSON.stringify(oidcClaims()))), audience: "https://a.example.com" });
    expect(res.status, res.text).toBe(200);
  });

  it('alg "none" with an empty signature', async () => {
    const unsigned = `${b64url({ alg: "none", typ: "JWT" })}.${b64url(oidcClaims())}.`;
    await refuse(unsigned);
  });

  it('alg "none" with a signature segment present', async () => {
    const forged = `${b64url({ alg: "none", typ: "JWT" })}.${b64url(oidcClaims())}.${b64url("sig")}`;
    await refuse(forged, /algorithm is not accepted/);
  });

  for (const alg of ["None", "NONE", "nOnE"]) {
    it(`alg "${alg}" (case variants)`, async () => {
      await refuse(`${b64url({ alg, typ: "JWT" })}.${b64url(oidcClaims())}.${b64url("x")}`, /algorithm is not accepted/);
    });
  }

  it("HS256 keyed with the issuer's EC public key (PEM bytes, with its kid)", async () => {
    const ec = keyOf("ES256");
    const pem = createPublicKey({ key: ec.publicJwk, format: "jwk" }).export({ type: "spki", format: "pem" }).toString();
    await refuse(hs256Jws({ alg: "HS256", typ: "JWT", kid: ec.kid }, JSON.stringify(oidcClaims()), pem), /algorithm is not accepted/);
  });

  it("HS256 keyed with the issuer's RSA public key (PEM, DER and JWK JSON bytes)", async () => {
    const rsa = keyOf("RS256");
    const publicKey = createPublicKey({ key: rsa.publicJwk, format: "jwk" });
    const secrets = [
      publicKey.export({ type: "spki", format: "pem" }).toString(),
      publicKey.export({ type: "pkcs1", format: "pem" }).toString(),
      publicKey.export({ type: "spki", format: "der" }),
      JSON.stringify(rsa.publicJwk),
    ];
    for (const secret of secrets) {
      await refuse(hs256Jws({ alg: "HS256", typ: "JWT", kid: rsa.kid }, JSON.stringify(oidcClaims()), secret), /algorithm is not accepted/);
    }
  });

  for (const alg of ["HS384", "HS512"]) {
    it(`${alg} without a kid`, async () => {
      const pem = createPublicKey({ key: keyOf("ES256").publicJwk, format: "jwk" }).export({ type: "spki", format: "pem" }).toString();
      await refuse(hs256Jws({ alg, typ: "JWT" }, JSON.stringify(oidcClaims()), pem), /algorithm is not accepted/);
    });
  }

  it("an RS256 signature presented under the kid of the issuer's EC key", async () => {
    const ec = keyOf("ES256");
    const token = await fx.issuers.oidc.mintRaw(JSON.stringify(oidcClaims()), { key: keyOf("RS256"), kid: ec.kid });
    await refuse(token);
  });

  it("an ES256 signature presented as RS256 (header alg swapped)", async () => {
    const token = await fx.issuers.oidc.mintRaw(JSON.stringify(oidcClaims()), { key: keyOf("ES256") });
    const [, payload, signature] = token.split(".");
    await refuse(`${b64url({ alg: "RS256", typ: "JWT", kid: keyOf("ES256").kid })}.${payload}.${signature}`);
  });

  it("an algorithm the issuer does not allow (github-actions allows RS256 only; ES256 key is published)", async () => {
    const token = await fx.issuers.github.mint(githubActionsClaims(), { alg: "ES256" });
    // Control: the same claims under RS256 pass.
    const control = await fx.exchange(fx.form(await fx.issuers.github.mint(githubActionsClaims(), { alg: "RS256" })));
    expect(control.status, control.text).toBe(200);
    refusedTokens.push(token);
    expectRefusal(await fx.exchange(fx.form(token)), { status: 400, error: "invalid_request", description: /algorithm is not accepted/ });
  });

  it("an algorithm that is asymmetric but not configured anywhere (PS256 header over an RS256 signature)", async () => {
    const token = await fx.issuers.oidc.mintRaw(JSON.stringify(oidcClaims()), { key: keyOf("RS256") });
    const [, payload, signature] = token.split(".");
    await refuse(`${b64url({ alg: "PS256", typ: "JWT", kid: keyOf("RS256").kid })}.${payload}.${signature}`, /algorithm is not accepted/);
  });

  it("a non-string alg", async () => {
    await refuse(`${b64url({ alg: ["ES256"], typ: "JWT" })}.${b64url(oidcClaims())}.${b64url("x")}`, /algorithm is not accepted/);
    await refuse(`${b64url({ typ: "JWT" })}.${b64url(oidcClaims())}.${b64url("x")}`, /algorithm is not accepted/);
  });

  it("none of the refused tokens was ever allowed in the audit log", async () => {
    await expectNeverAllowed(fx, refusedTokens);
  });
});
