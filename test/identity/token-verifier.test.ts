import { createHmac, createPublicKey, type JsonWebKey } from "node:crypto";
import { exportSPKI } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { TokenVerifier } from "../../src/identity/token-verifier.js";
import type { ManualClock } from "../../src/lib/clock.js";
import { generateSigningKey, githubActionsClaims, startTestIssuer, type TestIssuer } from "../support/test-issuer.js";
import { BROKER, T0, brokerError, issuerConfig, manualClock, verifierFor } from "../support/identity.js";

const NOW = T0 / 1000;

describe("token verifier", () => {
  let clock: ManualClock;
  let issuer: TestIssuer;
  let verifier: TokenVerifier;

  // One issuer for the file (RSA key generation is slow); each test gets a fresh verifier,
  // a reset clock and a healthy issuer with zeroed request counts.
  beforeAll(async () => {
    clock = manualClock();
    issuer = await startTestIssuer({ clock, audience: BROKER });
  });
  afterAll(async () => {
    await issuer.close();
  });
  beforeEach(async () => {
    clock.set(T0);
    issuer.failWith("none", "jwks");
    issuer.failWith("none", "discovery");
    issuer.resetRequests();
    verifier = verifierFor([await issuerConfig({ id: "idp", issuer: issuer.url, keys: { discovery: true } })], clock);
  });

  describe("accepts", () => {
    it("a valid ES256 token, fetching discovery and JWKS once", async () => {
      const token = await issuer.mint({ sub: "user-1", jti: "j-1", email: "a@example.com", email_verified: true });
      const verified = await verifier.verify(token);
      expect(verified.identity).toEqual({ issuer: "idp", iss: issuer.url, profile: "oidc", subject: "user-1", attributes: { subject: "user-1", email: "a@example.com" } });
      expect(verified).toMatchObject({ expiresAt: NOW + 300, issuedAt: NOW, tokenId: "j-1" });
      await verifier.verify(await issuer.mint());
      expect(issuer.requests).toEqual({ discovery: 1, jwks: 1, total: 2 });
    });

    it("a valid RS256 token", async () => {
      await expect(verifier.verify(await issuer.mint({}, { alg: "RS256" }))).resolves.toBeDefined();
    });

    it("a kid-less token when several keys could match, by trying each candidate", async () => {
      await issuer.rotate({ alg: "ES256" });
      const [older] = issuer.keys;
      const token = await issuer.mint({}, { key: older, kid: null });
      await expect(verifier.verify(token)).resolves.toBeDefined();
    });

    it("an expired token still within the clock skew", async () => {
      await expect(verifier.verify(await issuer.mint({ iat: NOW - 600, exp: NOW - 30 }))).resolves.toBeDefined();
    });
  });

  describe("routing", () => {
    it("rejects an unknown issuer without fetching anything", async () => {
      const other = await startTestIssuer({ clock, audience: BROKER });
      try {
        const error = await brokerError(verifier.verify(await other.mint()));
        expect(error.code).toBe("invalid_request");
        expect(error.description).toBe("subject_token issuer is not trusted");
        expect(other.requests.total).toBe(0);
        expect(issuer.requests.total).toBe(0);
      } finally {
        await other.close();
      }
    });

    it("tells the caller to use access_token for the broker's own tokens", async () => {
      const error = await brokerError(verifier.verify(await issuer.mint({ iss: BROKER })));
      expect(error.description).toBe("tokens issued by this broker are exchanged with subject_token_type access_token");
      expect(issuer.requests.total).toBe(0);
    });

    it("holds each issuer to its own algorithm list before fetching keys", async () => {
      const esOnly = verifierFor([await issuerConfig({ id: "idp", issuer: issuer.url, keys: { discovery: true }, algorithms: ["ES256"] })], clock);
      const error = await brokerError(esOnly.verify(await issuer.mint({}, { alg: "RS256" })));
      expect(error.description).toBe("subject_token algorithm is not accepted");
      expect(issuer.requests.total).toBe(0);
    });

    it("refuses HS256 keyed with the issuer's published RSA key, without fetching", async () => {
      const rsa = issuer.keys.find((key) => key.alg === "RS256");
      if (rsa === undefined) throw new Error("no RSA key");
      const secret = await exportSPKI(createPublicKey({ key: rsa.publicJwk as JsonWebKey, format: "jwk" }));
      const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
      const input = `${b64({ alg: "HS256", kid: rsa.kid })}.${b64({ iss: issuer.url, sub: "x", aud: BROKER, iat: NOW, exp: NOW + 60 })}`;
      const token = `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
      expect((await brokerError(verifier.verify(token))).description).toBe("subject_token algorithm is not accepted");
      expect(issuer.requests.total).toBe(0);
    });
  });

  describe("time claims", () => {
    const cases: [string, Record<string, unknown>, string][] = [
      ["expired beyond the skew", { iat: NOW - 600, exp: NOW - 61 }, "subject_token has expired"],
      ["nbf in the future", { nbf: NOW + 120 }, "subject_token is not yet valid"],
      ["iat in the future", { iat: NOW + 120, exp: NOW + 600 }, "subject_token was issued in the future"],
      ["missing exp", { exp: undefined }, 'subject_token is missing the "exp" claim'],
      ["missing iat (required by default)", { iat: undefined }, 'subject_token is missing the "iat" claim'],
      ["a lifetime over max_lifetime", { iat: NOW, exp: NOW + 86_400 + 1 }, "subject_token lifetime is too long"],
      ["older than max_token_age", { iat: NOW - 3600 - 61, exp: NOW + 60 }, "subject_token is too old"],
      ["a non-numeric exp", { exp: "tomorrow" }, 'subject_token has an invalid "exp" claim'],
    ];
    it.each(cases)("rejects a token %s", async (_name, claims, description) => {
      const error = await brokerError(verifier.verify(await issuer.mint(claims)));
      expect(error.code).toBe("invalid_request");
      expect(error.description).toBe(description);
      expect(error.detail).toContain("issuer idp");
    });

    it("rejects exp: 1e400 (Infinity after JSON.parse), which jose alone accepts", async () => {
      const raw = `{"iss":${JSON.stringify(issuer.url)},"sub":"s","aud":${JSON.stringify(BROKER)},"iat":${NOW},"exp":1e400}`;
      const error = await brokerError(verifier.verify(await issuer.mintRaw(raw)));
      expect(error.description).toBe('subject_token has an invalid "exp" claim');
    });

    it("rejects a negative-infinite nbf", async () => {
      const raw = `{"iss":${JSON.stringify(issuer.url)},"sub":"s","aud":${JSON.stringify(BROKER)},"iat":${NOW},"exp":${NOW + 60},"nbf":-1e400}`;
      expect((await brokerError(verifier.verify(await issuer.mintRaw(raw)))).description).toBe('subject_token has an invalid "nbf" claim');
    });

    it("checks iat in the future and lifetime from now when iat is not required", async () => {
      const lax = verifierFor([await issuerConfig({ id: "idp", issuer: issuer.url, keys: { discovery: true }, require_iat: false, max_lifetime: "1h" })], clock);
      expect((await brokerError(lax.verify(await issuer.mint({ iat: NOW + 120 })))).description).toBe("subject_token was issued in the future");
      expect((await brokerError(lax.verify(await issuer.mint({ iat: undefined, exp: NOW + 3601 })))).description).toBe("subject_token lifetime is too long");
      await expect(lax.verify(await issuer.mint({ iat: undefined, exp: NOW + 3600 }))).resolves.toBeDefined();
    });
  });

  describe("claims and signatures", () => {
    it("rejects an audience that is not accepted", async () => {
      const error = await brokerError(verifier.verify(await issuer.mint({ aud: "https://someone-else.example" })));
      expect(error.description).toBe("subject_token audience is not accepted");
    });

    it("accepts any configured audience among several", async () => {
      const multi = verifierFor([await issuerConfig({ id: "idp", issuer: issuer.url, keys: { discovery: true }, audiences: ["a", "b"] })], clock);
      await expect(multi.verify(await issuer.mint({ aud: ["x", "b"] }))).resolves.toBeDefined();
    });

    it("rejects a signature by an unpublished key claiming a published kid", async () => {
      const forger = await generateSigningKey("ES256");
      const published = issuer.keys.find((key) => key.alg === "ES256");
      const token = await issuer.mint({}, { key: forger, kid: published?.kid ?? "" });
      const error = await brokerError(verifier.verify(token));
      expect(error.description).toBe("subject_token signature is invalid");
    });

    it("rejects a token signed by a key the issuer does not publish", async () => {
      const error = await brokerError(verifier.verify(await issuer.mint({}, { key: await generateSigningKey("ES256", "not-published") })));
      expect(error.description).toBe("subject_token signing key is not published by its issuer");
    });

    it("rejects a tampered payload", async () => {
      const [header, , signature] = (await issuer.mint({ sub: "alice" })).split(".");
      const forged = Buffer.from(JSON.stringify({ iss: issuer.url, aud: BROKER, sub: "admin", iat: NOW, exp: NOW + 60 })).toString("base64url");
      expect((await brokerError(verifier.verify(`${header}.${forged}.${signature}`))).description).toBe("subject_token signature is invalid");
    });

    it("rejects a missing or overlong sub", async () => {
      expect((await brokerError(verifier.verify(await issuer.mint({ sub: undefined })))).description).toBe('subject_token is missing the "sub" claim');
      expect((await brokerError(verifier.verify(await issuer.mint({ sub: "x".repeat(1025) })))).description).toBe('subject_token "sub" claim is too long');
      expect((await brokerError(verifier.verify(await issuer.mint({ sub: "" })))).description).toBe('subject_token has an invalid "sub" claim');
    });

    it("rejects claims that do not fit the issuer's profile", async () => {
      const github = verifierFor([await issuerConfig({ id: "gh", issuer: issuer.url, keys: { discovery: true }, profile: "github-actions" })], clock);
      const token = await issuer.mint(githubActionsClaims({ format: "immutable" }, { repository_id: "1" }));
      const error = await brokerError(github.verify(token));
      expect(error.description).toBe("subject_token claims do not fit the github-actions profile");
      expect(error.detail).toMatch(/ids do not match/);
      await expect(github.verify(await issuer.mint(githubActionsClaims({ format: "immutable" })))).resolves.toMatchObject({
        identity: { attributes: { sub_format: "immutable", repository_id: "123456" } },
      });
    });

    it("names the actor_token in descriptions when asked to", async () => {
      const error = await brokerError(verifier.verify(await issuer.mint({ aud: "elsewhere" }), "actor_token"));
      expect(error.description).toBe("actor_token audience is not accepted");
    });

    it("never puts the token in the description or the detail", async () => {
      const token = await issuer.mint({ aud: "elsewhere" });
      const error = await brokerError(verifier.verify(token));
      expect(error.description).not.toContain(token.split(".")[2]);
      expect(error.detail).not.toContain(token.split(".")[2]);
    });
  });

  describe("readiness", () => {
    it("is not ready before keys are fetched; warmUp fetches them", async () => {
      expect(verifier.ready()).toBe(false);
      expect(issuer.requests.total).toBe(0);
      await verifier.warmUp();
      expect(verifier.ready()).toBe(true);
      expect(issuer.requests).toMatchObject({ discovery: 1, jwks: 1 });
      expect(verifier.issuers().map((issuer) => issuer.id)).toEqual(["idp"]);
    });

    it("warmUp does not throw when the issuer is down", async () => {
      issuer.failWith("500", "discovery");
      await expect(verifier.warmUp()).resolves.toBeUndefined();
      expect(verifier.ready()).toBe(false);
    });
  });
});
