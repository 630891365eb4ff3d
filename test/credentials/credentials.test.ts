import { createPrivateKey, generateKeyPairSync } from "node:crypto";
import { mkdtemp, readFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, SignJWT } from "jose";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { createAccessTokenMinter } from "../../src/credentials/access-token.js";
import { createBrokerTokenVerifier } from "../../src/credentials/broker-token-verifier.js";
import { FileKeyStore } from "../../src/credentials/file-key-store.js";
import { BrokerError } from "../../src/errors/broker-error.js";
import { ManualClock } from "../../src/lib/clock.js";

const ISSUER = "https://broker.test";
const NOW_MS = Date.UTC(2026, 10, 1, 12);

describe("access tokens", () => {
  let keys: FileKeyStore;
  let dir: string;
  const clock = new ManualClock(NOW_MS);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "broker-keys-"));
    keys = await FileKeyStore.generate(dir);
  });

  it("writes private keys with mode 0600 and reloads the same key", async () => {
    const kid = keys.activeKey().kid;
    expect((await stat(join(dir, `${kid}.pem`))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, "keyset.json"))).mode & 0o777).toBe(0o600);
    const reloaded = await FileKeyStore.load(dir);
    expect(reloaded.activeKey().kid).toBe(kid);
    expect(JSON.stringify(reloaded.publishedKeys())).not.toContain('"d"');
  });

  it("mints RFC 9068 tokens that jose verifies with the published JWKS alone", async () => {
    const minter = createAccessTokenMinter({ issuer: ISSUER, keys, clock });
    const issued = await minter.mint({
      subject: "github/1/2",
      audiences: ["https://a.example"],
      scopes: ["read", "write"],
      lifetimeSeconds: 300,
      extraClaims: { repository: "acme/app" },
    });
    const jwks = createLocalJWKSet({ keys: keys.publishedKeys().map((jwk) => ({ ...jwk })) });
    const { payload, protectedHeader } = await jwtVerify(issued.token, jwks, {
      issuer: ISSUER,
      audience: "https://a.example",
      typ: "at+jwt",
      algorithms: ["ES256"],
      currentDate: new Date(NOW_MS),
    });
    expect(protectedHeader).toEqual({ alg: "ES256", typ: "at+jwt", kid: keys.activeKey().kid });
    const iat = NOW_MS / 1000;
    expect(payload).toEqual({
      iss: ISSUER,
      sub: "github/1/2",
      aud: "https://a.example",
      client_id: "github/1/2",
      scope: "read write",
      repository: "acme/app",
      iat,
      iat_ms: NOW_MS,
      nbf: iat,
      exp: iat + 300,
      jti: issued.jti,
    });
    expect(Buffer.from(issued.jti, "base64url")).toHaveLength(16);
  });

  it("stamps iat_ms strictly after the revocation cutoff the issuance read, and keeps iat the clock's whole second", async () => {
    const minter = createAccessTokenMinter({ issuer: ISSUER, keys, clock });
    const spec = { subject: "w", audiences: ["https://a.example"], scopes: [], lifetimeSeconds: 60, extraClaims: {} };
    const read = (token: string) => JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<string, number>;
    expect(read((await minter.mint({ ...spec, issueAfterMs: NOW_MS - 5 })).token).iat_ms).toBe(NOW_MS);
    const ahead = read((await minter.mint({ ...spec, issueAfterMs: NOW_MS + 700 })).token);
    expect(ahead.iat_ms).toBe(NOW_MS + 701);
    expect(ahead.iat).toBe(NOW_MS / 1000);
  });

  it("signs with node:crypto what jose verifies, for any claims (property)", async () => {
    const minter = createAccessTokenMinter({ issuer: ISSUER, keys, clock });
    const jwks = createLocalJWKSet({ keys: keys.publishedKeys().map((jwk) => ({ ...jwk })) });
    const text = fc.string({ unit: "grapheme", maxLength: 40 });
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.webUrl(), { minLength: 1, maxLength: 3 }),
        fc.uniqueArray(fc.stringMatching(/^[a-z:]{1,12}$/), { maxLength: 4 }),
        fc.dictionary(fc.stringMatching(/^x_[a-z]{1,8}$/), fc.oneof(text, fc.integer(), fc.boolean(), fc.array(text, { maxLength: 3 }))),
        text.filter((s) => s.length > 0),
        async (audiences, scopes, extraClaims, subject) => {
          const issued = await minter.mint({ subject, audiences, scopes, lifetimeSeconds: 120, extraClaims });
          const { payload } = await jwtVerify(issued.token, jwks, { issuer: ISSUER, typ: "at+jwt", algorithms: ["ES256"], currentDate: new Date(NOW_MS) });
          expect(payload).toMatchObject({ ...extraClaims, sub: subject, client_id: subject, jti: issued.jti, exp: NOW_MS / 1000 + 120 });
          expect(payload.aud).toEqual(audiences.length === 1 ? audiences[0] : audiences);
        },
      ),
      { seed: 9068, numRuns: 200 },
    );
  });

  it("never lets a grant's extra claims override registered claims", async () => {
    const minter = createAccessTokenMinter({ issuer: ISSUER, keys, clock });
    const issued = await minter.mint({ subject: "w", audiences: ["a"], scopes: [], lifetimeSeconds: 60, extraClaims: { sub: "admin", iss: "https://evil", exp: 9e9 } });
    const { payload } = await jwtVerify(issued.token, createLocalJWKSet({ keys: keys.publishedKeys().map((jwk) => ({ ...jwk })) }), { currentDate: new Date(NOW_MS) });
    expect(payload).toMatchObject({ sub: "w", iss: ISSUER, exp: NOW_MS / 1000 + 60 });
  });

  it("never lets a token outlive notAfter and gives each token its own jti", async () => {
    const minter = createAccessTokenMinter({ issuer: ISSUER, keys, clock });
    const spec = { subject: "w", audiences: ["a", "b"], scopes: [], lifetimeSeconds: 600, extraClaims: {}, notAfter: NOW_MS / 1000 + 42 };
    const [one, two] = await Promise.all([minter.mint(spec), minter.mint(spec)]);
    expect(one?.expiresAt).toBe(NOW_MS / 1000 + 42);
    expect(one?.jti).not.toBe(two?.jti);
    expect(decodeProtectedHeader(one?.token ?? "").typ).toBe("at+jwt");
  });

  describe("broker token verifier", () => {
    const verifier = () => createBrokerTokenVerifier({ issuer: ISSUER, keys, clock });

    it("accepts its own tokens and refuses tampered ones", async () => {
      const issued = await createAccessTokenMinter({ issuer: ISSUER, keys, clock }).mint({
        subject: "w",
        audiences: ["a"],
        scopes: ["read"],
        lifetimeSeconds: 60,
        extraClaims: {},
      });
      await expect(verifier().verify(issued.token)).resolves.toMatchObject({ sub: "w", scope: "read" });
      const [header, payload, signature] = issued.token.split(".");
      const widened = Buffer.from(
        JSON.stringify({ ...JSON.parse(Buffer.from(payload ?? "", "base64url").toString()), scope: "read admin" }),
      ).toString("base64url");
      await expect(verifier().verify(`${header}.${widened}.${signature}`)).rejects.toThrow(BrokerError);
    });

    it("refuses a token signed by another key, another issuer or without typ at+jwt", async () => {
      const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const kid = keys.activeKey().kid;
      const claims = { client_id: "w", jti: "x" };
      const now = NOW_MS / 1000;
      const foreign = await new SignJWT(claims).setProtectedHeader({ alg: "ES256", typ: "at+jwt", kid }).setIssuer(ISSUER).setSubject("w").setAudience("a").setIssuedAt(now).setExpirationTime(now + 60).sign(privateKey);
      await expect(verifier().verify(foreign)).rejects.toMatchObject({ code: "invalid_request" });
      // The broker's own key, read from its file: the key store hands out only a signer.
      const own = createPrivateKey(await readFile(join(dir, `${kid}.pem`), "utf8"));
      const plainJwt = await new SignJWT(claims).setProtectedHeader({ alg: "ES256", typ: "JWT", kid }).setIssuer(ISSUER).setSubject("w").setAudience("a").setIssuedAt(now).setExpirationTime(now + 60).sign(own);
      await expect(verifier().verify(plainJwt)).rejects.toMatchObject({ code: "invalid_request" });
      const otherIssuer = await new SignJWT(claims).setProtectedHeader({ alg: "ES256", typ: "at+jwt", kid }).setIssuer("https://other.test").setSubject("w").setAudience("a").setIssuedAt(now).setExpirationTime(now + 60).sign(own);
      await expect(verifier().verify(otherIssuer)).rejects.toMatchObject({ code: "invalid_request" });
    });

    it("refuses an expired broker token with a clear description", async () => {
      const issued = await createAccessTokenMinter({ issuer: ISSUER, keys, clock }).mint({ subject: "w", audiences: ["a"], scopes: [], lifetimeSeconds: 60, extraClaims: {} });
      const later = new ManualClock(NOW_MS + 61_000);
      await expect(createBrokerTokenVerifier({ issuer: ISSUER, keys, clock: later }).verify(issued.token)).rejects.toMatchObject({
        code: "invalid_request",
        description: "subject_token has expired",
      });
    });
  });

  it("refuses a keyset naming a file outside the key folder", async () => {
    const bad = await mkdtemp(join(tmpdir(), "broker-keys-"));
    await FileKeyStore.generate(bad);
    const manifest = JSON.parse(await readFile(join(bad, "keyset.json"), "utf8")) as { active: string };
    const { writeFile } = await import("node:fs/promises");
    await writeFile(join(bad, "keyset.json"), JSON.stringify({ active: "../../etc/passwd", published: [manifest.active] }));
    await expect(FileKeyStore.load(bad)).rejects.toThrow(/bad key name/);
  });
});
