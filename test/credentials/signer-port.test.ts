/**
 * The minters sign only through the Signer port: a signer that is not a key file (here an
 * in-memory WebCrypto key, as a KMS or an HSM would be: asynchronous, the private key never
 * leaves it) mints access tokens and JWT-SVIDs that verify with jose against the JWKS the broker
 * publishes, and that the broker itself accepts.
 */
import { webcrypto } from "node:crypto";
import { calculateJwkThumbprint, createLocalJWKSet, decodeProtectedHeader, exportJWK, jwtVerify, type JSONWebKeySet } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { buildBroker } from "../../src/build-broker.js";
import { createAccessTokenMinter } from "../../src/credentials/access-token.js";
import { createJwtSvidMinter } from "../../src/credentials/jwt-svid.js";
import type { KeyStore } from "../../src/credentials/key-store.js";
import type { Signer } from "../../src/credentials/signer.js";
import { createTokenVerifier } from "../../src/identity/token-verifier.js";
import { ManualClock } from "../../src/lib/clock.js";
import { silentLog } from "../../src/lib/log.js";
import { createPolicySet } from "../../src/policy/index.js";
import { MemoryRateLimiter } from "../../src/rate-limit/memory-rate-limiter.js";
import { MemoryRevocationStore } from "../../src/revocation/memory-revocation-store.js";
import { noNetwork, testBrokerSettings } from "../support/test-broker.js";

const ISSUER = "https://broker.signer.example";
const NOW_MS = Date.UTC(2027, 0, 15, 8);

/** A key store whose only key lives in WebCrypto, non-extractable: all it can do is sign. */
async function webCryptoKeyStore(): Promise<KeyStore & { readonly signatures: () => number }> {
  const { privateKey, publicKey } = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
  const { kty, crv, x, y } = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint({ kty, crv, x, y }, "sha256");
  let signatures = 0;
  const signer: Signer = {
    kid,
    alg: "ES256",
    // WebCrypto's ECDSA signature is already the raw r||s that JWS wants (RFC 7518 §3.4).
    sign: async (signingInput) => {
      signatures += 1;
      return new Uint8Array(await webcrypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, privateKey, signingInput));
    },
  };
  const published = [Object.freeze({ kty, crv, x, y, kid, alg: "ES256", use: "sig" })];
  return { activeKey: () => signer, publishedKeys: () => published, keysRevision: () => 1, signatures: () => signatures };
}

describe("minters over a signer that is not a key file", () => {
  const clock = new ManualClock(NOW_MS);
  let keys: Awaited<ReturnType<typeof webCryptoKeyStore>>;
  let app: ReturnType<typeof buildBroker>["app"];
  let jwks: JSONWebKeySet;

  beforeAll(async () => {
    keys = await webCryptoKeyStore();
    ({ app } = buildBroker(testBrokerSettings({ issuerUrl: ISSUER, introspectionScope: "broker:introspect" }), {
      keys: { ...keys, activeSince: () => undefined },
      verifier: createTokenVerifier({ issuers: [], brokerIssuer: ISSUER, clock, fetch: noNetwork, log: silentLog }),
      policies: { current: () => createPolicySet([], "none") },
      revocations: new MemoryRevocationStore(clock),
      limiter: new MemoryRateLimiter(clock),
      clock,
      log: silentLog,
      audit: { record: () => undefined },
    }));
    const response = await app.request("/.well-known/jwks.json");
    expect(response.status).toBe(200);
    jwks = (await response.json()) as JSONWebKeySet;
  });

  /** jose's verification against the JWKS the broker serves: its issuer, ES256 only, at the test's "now". */
  const verifyPublished = async (token: string, expected: { audience: string; typ: string }) =>
    (await jwtVerify(token, createLocalJWKSet(jwks), { issuer: ISSUER, ...expected, algorithms: ["ES256"], currentDate: new Date(NOW_MS) })).payload;

  it("the broker publishes the signer's public key, as it is, in its JWKS", () => {
    expect(jwks.keys).toEqual(keys.publishedKeys());
  });

  it("an access token minted through it verifies with jose against the published JWKS", async () => {
    const before = keys.signatures();
    const issued = await createAccessTokenMinter({ issuer: ISSUER, keys, clock }).mint({
      subject: "workload/a",
      audiences: ["https://api.example"],
      scopes: ["read"],
      lifetimeSeconds: 300,
      extraClaims: {},
    });
    expect(keys.signatures()).toBe(before + 1);
    expect(decodeProtectedHeader(issued.token)).toEqual({ alg: "ES256", typ: "at+jwt", kid: keys.activeKey().kid });
    const payload = await verifyPublished(issued.token, { audience: "https://api.example", typ: "at+jwt" });
    expect(payload).toMatchObject({ sub: "workload/a", client_id: "workload/a", scope: "read", jti: issued.jti, exp: issued.expiresAt });
  });

  it("a JWT-SVID minted through it verifies with jose against the published JWKS", async () => {
    const issued = await createJwtSvidMinter({ issuer: ISSUER, keys, clock }).mint({
      spiffeId: "spiffe://example.org/ns/a/sa/b",
      audiences: ["https://db.example"],
      lifetimeSeconds: 300,
      extraClaims: {},
    });
    expect(decodeProtectedHeader(issued.token)).toEqual({ alg: "ES256", typ: "JWT", kid: keys.activeKey().kid });
    const payload = await verifyPublished(issued.token, { audience: "https://db.example", typ: "JWT" });
    expect(payload).toMatchObject({ sub: "spiffe://example.org/ns/a/sa/b", jti: issued.jti });
  });

  it("the broker accepts its own tokens signed through it (introspection: caller and subject)", async () => {
    const minter = createAccessTokenMinter({ issuer: ISSUER, keys, clock });
    const spec = { audiences: [ISSUER], lifetimeSeconds: 300, extraClaims: {} };
    const introspector = await minter.mint({ ...spec, subject: "workload/introspector", scopes: ["broker:introspect"] });
    const subject = await minter.mint({ ...spec, subject: "workload/a", scopes: ["read"] });
    const response = await app.request("/introspect", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${introspector.token}` },
      body: new URLSearchParams({ token: subject.token }).toString(),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ active: true, sub: "workload/a", jti: subject.jti });
  });
});
