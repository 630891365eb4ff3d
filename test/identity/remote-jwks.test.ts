import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { TokenVerifier } from "../../src/identity/token-verifier.js";
import type { ManualClock } from "../../src/lib/clock.js";
import { generateSigningKey, startTestIssuer, type TestIssuer } from "../support/test-issuer.js";
import { BROKER, T0, brokerError, issuerConfig, manualClock, recordingLog, verifierFor } from "../support/identity.js";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

describe("remote JWKS", () => {
  let clock: ManualClock;
  let issuer: TestIssuer;

  beforeAll(async () => {
    clock = manualClock();
    issuer = await startTestIssuer({ clock, audience: BROKER });
  });
  afterAll(async () => {
    await issuer.close();
  });
  beforeEach(() => {
    clock.set(T0);
    issuer.failWith("none", "jwks");
    issuer.failWith("none", "discovery");
    issuer.serveJwks(undefined);
    issuer.serveDiscovery(undefined);
    issuer.resetRequests();
  });

  async function discoveryVerifier(extra: Parameters<typeof verifierFor>[2] = {}): Promise<TokenVerifier> {
    return verifierFor([await issuerConfig({ id: "idp", issuer: issuer.url, keys: { discovery: true } })], clock, extra);
  }
  /** Mints with the issuer's clock at the verifier's "now" (tokens must be fresh whenever we move time). */
  const mint = (kid?: string) => issuer.mint({}, kid === undefined ? {} : { key: issuer.keys.find((key) => key.kid === kid) });

  describe("key rotation", () => {
    it("refetches on a new kid once the cooldown has passed", async () => {
      const verifier = await discoveryVerifier();
      await verifier.verify(await mint());
      const next = await issuer.rotate({ alg: "ES256", retireOld: true });
      const token = await mint(next.kid);
      // Within the cooldown of the first fetch the new kid is not fetched for.
      expect((await brokerError(verifier.verify(token))).description).toBe("subject_token signing key is not published by its issuer");
      expect(issuer.requests.jwks).toBe(1);
      clock.advance(30 * SECOND);
      await expect(verifier.verify(await mint(next.kid))).resolves.toBeDefined();
      expect(issuer.requests.jwks).toBe(2);
    });

    it("refetches for unknown kids at most once per cooldown", async () => {
      const verifier = await discoveryVerifier();
      await verifier.verify(await mint());
      clock.advance(30 * SECOND);
      const unknown = async (kid: string) => issuer.mint({}, { key: await generateSigningKey("ES256", kid) });
      for (const kid of ["made-up-1", "made-up-2", "made-up-3"]) {
        expect((await brokerError(verifier.verify(await unknown(kid)))).code).toBe("invalid_request");
      }
      expect(issuer.requests.jwks).toBe(2);
      clock.advance(29 * SECOND);
      await brokerError(verifier.verify(await unknown("made-up-4")));
      expect(issuer.requests.jwks).toBe(2);
      clock.advance(1 * SECOND);
      await brokerError(verifier.verify(await unknown("made-up-5")));
      expect(issuer.requests.jwks).toBe(3);
    });

    it("refetches when the cache is older than its max age (10 min)", async () => {
      const verifier = await discoveryVerifier();
      await verifier.verify(await mint());
      clock.advance(10 * MINUTE - 1);
      await verifier.verify(await mint());
      expect(issuer.requests.jwks).toBe(1);
      clock.advance(1);
      await verifier.verify(await mint());
      expect(issuer.requests).toMatchObject({ jwks: 2, discovery: 2 });
    });

    it("shares one in-flight fetch between concurrent requests", async () => {
      const verifier = await discoveryVerifier();
      const tokens = await Promise.all(Array.from({ length: 10 }, () => mint()));
      await Promise.all(tokens.map((token) => verifier.verify(token)));
      expect(issuer.requests).toEqual({ discovery: 1, jwks: 1, total: 2 });
    });
  });

  describe("outages", () => {
    it("keeps the last good keys through a failing refresh, for up to 24 h", async () => {
      const log = recordingLog();
      const verifier = await discoveryVerifier({ log });
      await verifier.verify(await mint());
      issuer.failWith("500");
      clock.advance(11 * MINUTE);
      await expect(verifier.verify(await mint())).resolves.toBeDefined();
      expect(issuer.requests.jwks).toBe(2);
      expect(log.warnings).toContain("issuer keys refresh failed");
      expect(verifier.ready()).toBe(true);
      clock.advance(24 * HOUR);
      const error = await brokerError(verifier.verify(await mint()));
      expect(error.code).toBe("temporarily_unavailable");
      expect(error.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(error.detail).toContain("HTTP 500");
      expect(verifier.ready()).toBe(false);
    });

    it("fails with temporarily_unavailable when it never had keys, and does not retry within the cooldown", async () => {
      const verifier = await discoveryVerifier();
      issuer.failWith("500");
      const error = await brokerError(verifier.verify(await mint()));
      expect(error.code).toBe("temporarily_unavailable");
      expect(error.retryAfterSeconds).toBe(30);
      expect(error.description).not.toContain(issuer.url);
      await brokerError(verifier.verify(await mint()));
      expect(issuer.requests.jwks).toBe(1);
      issuer.failWith("none");
      clock.advance(30 * SECOND);
      await expect(verifier.verify(await mint())).resolves.toBeDefined();
    });

    it("gives up on a hanging JWKS endpoint after the timeout", async () => {
      const verifier = await discoveryVerifier({ remoteJwks: { timeoutMs: 150 } });
      issuer.failWith("hang");
      const error = await brokerError(verifier.verify(await mint()));
      expect(error.code).toBe("temporarily_unavailable");
      expect(error.detail).toContain("timed out");
    });

    it.each([
      ["oversized", "exceeds the limit"],
      ["oversized-chunked", "exceeds the limit"],
      ["too-many-keys", "more than the limit of 100"],
      ["invalid-json", "not valid JSON"],
    ] as const)("refuses a JWKS that is %s", async (mode, reason) => {
      const verifier = await discoveryVerifier();
      issuer.failWith(mode);
      const error = await brokerError(verifier.verify(await mint()));
      expect(error.code).toBe("temporarily_unavailable");
      expect(error.detail).toContain(reason);
    });

    it("honours a lower key-count cap", async () => {
      const verifier = await discoveryVerifier({ remoteJwks: { maxKeys: 1 } });
      expect((await brokerError(verifier.verify(await mint()))).detail).toContain("more than the limit of 1");
    });

    it("refuses a JWKS publishing private key material", async () => {
      const { exportJWK } = await import("jose");
      const key = await generateSigningKey("ES256");
      issuer.serveJwks({ keys: [{ ...(await exportJWK(key.privateKey)), kid: key.kid }] });
      const verifier = await discoveryVerifier();
      expect((await brokerError(verifier.verify(await issuer.mint({}, { key })))).detail).toContain("private or secret key material");
    });
  });

  describe("discovery", () => {
    it("refuses a discovery document naming another issuer", async () => {
      issuer.serveDiscovery({ issuer: "https://evil.example", jwks_uri: issuer.jwksUrl });
      const verifier = await discoveryVerifier();
      const error = await brokerError(verifier.verify(await mint()));
      expect(error.code).toBe("temporarily_unavailable");
      expect(error.detail).toContain('"issuer" does not match');
      expect(issuer.requests.jwks).toBe(0);
    });

    it("never fetches a discovered jwks_uri that is not https or loopback", async () => {
      issuer.serveDiscovery({ issuer: issuer.url, jwks_uri: "http://10.0.0.1/jwks" });
      const verifier = await discoveryVerifier();
      expect((await brokerError(verifier.verify(await mint()))).detail).toContain('"jwks_uri" must use https');
    });

    it("uses a configured jwks_uri without any discovery request", async () => {
      const verifier = verifierFor([await issuerConfig({ id: "idp", issuer: issuer.url, keys: { jwks_uri: issuer.jwksUrl } })], clock);
      await verifier.verify(await mint());
      expect(issuer.requests).toEqual({ discovery: 0, jwks: 1, total: 1 });
    });

    it("ignores a jku header pointing elsewhere: the token is refused before any fetch", async () => {
      const verifier = await discoveryVerifier();
      const token = await issuer.mint({}, { header: { jku: `${issuer.url}/evil-jwks` } });
      expect((await brokerError(verifier.verify(token))).description).toBe('subject_token header parameter "jku" is not accepted');
      expect(issuer.requests.total).toBe(0);
    });
  });
});
