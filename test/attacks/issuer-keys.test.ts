/**
 * Issuer keys through the broker in-process (buildBroker, app.request()) and real loopback issuers: a key the issuer drops stops
 * vouching for tokens the broker verified (and cached) before, once the key set is due for a
 * refetch; a published key that is not a valid point on its curve is dropped at fetch time, logged
 * without key material and counted, and a token naming it is refused (400), never a 500.
 */
import { exportJWK, generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, startInProcessBroker, type InProcessBroker } from "../support/in-process-broker.js";
import { expectRefusal } from "../support/refusal.js";
import { verifiedTokenCacheLookups } from "../support/attack-helpers.js";
import { generateSigningKey, type TestIssuer } from "../support/test-issuer.js";

const SUBJECT = "oidc-workload";
const AUDIENCE = "https://a.example.com";
const JWKS_MAX_AGE_SECONDS = 2;

let fx: InProcessBroker;
let rotating: TestIssuer;
let badKeys: TestIssuer;
/** The off-curve key's public members: they must never reach a log line. */
let offCurve: { x: string; y: string };

const policyFor = (issuer: string) => ({
  id: `e2e-${issuer}`,
  issuer,
  condition: `identity.subject == "${SUBJECT}"`,
  grant: { workload_id: `wl-${issuer}`, audiences: [AUDIENCE], max_lifetime: "10m" },
});

beforeAll(async () => {
  fx = await startInProcessBroker({
    env: { BROKER_JWKS_CACHE_MAX_AGE: `${JWKS_MAX_AGE_SECONDS}s`, BROKER_JWKS_REFETCH_COOLDOWN: "1s" },
    extraIssuers: 2,
    extraEntries: async ([first, second]) => {
      if (first === undefined || second === undefined) throw new Error("two extra issuers expected");
      // A P-256 public key with y changed: not a point on the curve, so WebCrypto cannot import it.
      const { publicKey } = await generateKeyPair("ES256", { extractable: true });
      const jwk = await exportJWK(publicKey);
      const y = Buffer.from(jwk.y ?? "", "base64url");
      y[31] = (y[31] ?? 0) ^ 0x01;
      offCurve = { x: jwk.x ?? "", y: y.toString("base64url") };
      second.serveJwks({ keys: [...second.jwks().keys, { ...jwk, y: offCurve.y, kid: "off-curve", alg: "ES256", use: "sig" }] });
      return [
        { id: "rotating", issuer: first.url, profile: "oidc", keys: { jwks_uri: first.jwksUrl }, algorithms: ["ES256"] },
        { id: "badkeys", issuer: second.url, profile: "oidc", keys: { jwks_uri: second.jwksUrl }, algorithms: ["ES256"] },
      ];
    },
    policies: { "rotating.policy.yaml": policyFor("rotating"), "badkeys.policy.yaml": policyFor("badkeys") },
  });
  [rotating, badKeys] = fx.extra as [TestIssuer, TestIssuer];
}, 60_000);
afterAll(async () => {
  await fx?.close();
});

const exchange = (token: string) => fx.exchange({ ...fx.form(token), audience: AUDIENCE });

describe("a cached verification never outlives the issuer's key", () => {
  it("refuses a token verified (and cached) before its key was dropped, once the key set is past its max age", async () => {
    const old = rotating.keys.find((key) => key.alg === "ES256");
    if (old === undefined) throw new Error("no ES256 key");
    const token = await rotating.mint({ sub: SUBJECT });
    // The second verification caches the token (the doorkeeper); the third is a cache hit.
    expect((await exchange(token)).status).toBe(200);
    expect((await exchange(token)).status).toBe(200);
    const before = await verifiedTokenCacheLookups(fx);
    expect((await exchange(token)).status).toBe(200);
    expect((await verifiedTokenCacheLookups(fx)).hit, "the token is in the verified-token cache").toBe(before.hit + 1);
    await rotating.rotate({ alg: "ES256", retireOld: true });
    const fetchesBefore = rotating.requests.jwks;
    // Within the JWKS max age plus the cooldown the key set is refetched, and the cached token must
    // go with its key: before the fix it kept answering 200 until the token cache TTL (60 s).
    let last = await exchange(token);
    await eventually(
      async () => {
        last = await exchange(token);
        return last.status !== 200;
      },
      (JWKS_MAX_AGE_SECONDS + 4) * 1000,
      "the cached token to be refused",
    );
    expectRefusal(last, { status: 400, error: "invalid_request", description: /^subject_token signing key is not published by its issuer$/ });
    expect(rotating.requests.jwks).toBeGreaterThan(fetchesBefore);
    // A fresh token of the dropped key is refused the same way, and the new key works.
    expectRefusal(await exchange(await rotating.mint({ sub: SUBJECT }, { key: old })), { status: 400, error: "invalid_request" });
    expect((await exchange(await rotating.mint({ sub: SUBJECT }))).status).toBe(200);
  });
});

describe("an issuer key that is not a valid point on its curve", () => {
  it("refuses a token naming it with 400 invalid_request, not 500, and keeps the issuer's good keys working", async () => {
    const stranger = await generateSigningKey("ES256", "off-curve");
    const token = await badKeys.mint({ sub: SUBJECT }, { key: stranger });
    expectRefusal(await exchange(token), { status: 400, error: "invalid_request", description: /^subject_token signing key is not published by its issuer$/ });
    expect((await exchange(await badKeys.mint({ sub: SUBJECT }))).status).toBe(200);
  });

  it("logs the dropped key by kid without its members, and counts it", async () => {
    await eventually(() => fx.broker.output.some((line) => line.includes("issuer key refused")), 5_000, "the refusal log line");
    const line = fx.broker.output.find((candidate) => candidate.includes("issuer key refused")) ?? "";
    expect(JSON.parse(line)).toMatchObject({ issuer: "badkeys", kid: "off-curve", kty: "EC", level: 40 });
    const output = fx.broker.output.join("\n");
    expect(output).not.toContain(offCurve.x);
    expect(output).not.toContain(offCurve.y);
    const metrics = await fx.get("/metrics");
    expect(metrics.text).toMatch(/^broker_issuer_keys_refused_total\{issuer="badkeys"\} [1-9]/m);
  });
});
