import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ManualClock } from "../../src/lib/clock.js";
import { generateSigningKey, kubernetesClaims, spiffeClaims, startTestIssuer, type TestIssuer, type TestSigningKey } from "../support/test-issuer.js";
import { BROKER, T0, brokerError, issuerConfig, manualClock, verifierFor, writeTempJson } from "../support/identity.js";

describe("static JWKS files", () => {
  let clock: ManualClock;
  let issuer: TestIssuer;

  beforeAll(async () => {
    clock = manualClock();
    issuer = await startTestIssuer({ clock, audience: BROKER });
  });
  afterAll(async () => {
    await issuer.close();
  });

  it("verifies Kubernetes tokens against a jwks_file without any network access", async () => {
    const { dir } = await writeTempJson("k8s-jwks.json", issuer.jwks());
    const config = await issuerConfig({ id: "k8s", issuer: issuer.url, profile: "kubernetes", keys: { jwks_file: "k8s-jwks.json" } }, dir);
    const verifier = verifierFor([config], clock);
    expect(verifier.ready()).toBe(true);
    const verified = await verifier.verify(await issuer.mint(kubernetesClaims()));
    expect(verified.identity).toMatchObject({ issuer: "k8s", profile: "kubernetes", attributes: { namespace: "payments", service_account: "api" } });
    expect(issuer.requests.total).toBe(0);
  });

  describe("SPIFFE bundles", () => {
    let jwtKey: TestSigningKey;
    let x509Key: TestSigningKey;
    let bundle: unknown;

    beforeAll(async () => {
      jwtKey = await generateSigningKey("ES256", "jwt-authority");
      x509Key = await generateSigningKey("ES256", "x509-authority");
      const { use: _jwtUse, alg: _jwtAlg, ...jwtJwk } = jwtKey.publicJwk;
      const { use: _x509Use, alg: _x509Alg, ...x509Jwk } = x509Key.publicJwk;
      // SPIFFE Trust Domain and Bundle format: use names the SVID type each key verifies.
      bundle = { spiffe_sequence: 7, spiffe_refresh_hint: 300, keys: [{ ...jwtJwk, use: "jwt-svid" }, { ...x509Jwk, use: "x509-svid" }] };
    });

    const svid = (key: TestSigningKey, claims: Record<string, unknown> = {}) =>
      issuer.mint(spiffeClaims("spiffe://example.org/ns/prod/sa/api", { iat: undefined, ...claims }), { key });

    it("verifies a JWT-SVID signed by a jwt-svid key from a bundle file", async () => {
      const { dir } = await writeTempJson("bundle.json", bundle);
      const verifier = verifierFor([await issuerConfig({ id: "mesh", issuer: issuer.url, profile: "spiffe", trust_domain: "example.org", keys: { jwks_file: "bundle.json" } }, dir)], clock);
      const verified = await verifier.verify(await svid(jwtKey));
      expect(verified.identity.attributes).toEqual({ spiffe_id: "spiffe://example.org/ns/prod/sa/api", trust_domain: "example.org", path: "/ns/prod/sa/api" });
      expect(verified.issuedAt).toBeUndefined();
    });

    it("never verifies a JWT with an x509-svid key", async () => {
      const { dir } = await writeTempJson("bundle.json", bundle);
      const verifier = verifierFor([await issuerConfig({ id: "mesh", issuer: issuer.url, profile: "spiffe", trust_domain: "example.org", keys: { jwks_file: "bundle.json" } }, dir)], clock);
      const error = await brokerError(verifier.verify(await svid(x509Key)));
      expect(error.description).toBe("subject_token signing key is not published by its issuer");
      const kidless = await issuer.mint(spiffeClaims(), { key: x509Key, kid: null });
      expect((await brokerError(verifier.verify(kidless))).description).toBe("subject_token signature is invalid");
    });

    it("applies the same filtering to a bundle served as a remote JWKS", async () => {
      issuer.serveJwks(bundle);
      try {
        const verifier = verifierFor([await issuerConfig({ id: "mesh", issuer: issuer.url, profile: "spiffe", trust_domain: "example.org", keys: { jwks_uri: issuer.jwksUrl } })], clock);
        await expect(verifier.verify(await svid(jwtKey))).resolves.toBeDefined();
        expect((await brokerError(verifier.verify(await svid(x509Key)))).code).toBe("invalid_request");
      } finally {
        issuer.serveJwks(undefined);
      }
    });

    it("still enforces exp and aud on JWT-SVIDs", async () => {
      const { dir } = await writeTempJson("bundle.json", bundle);
      const verifier = verifierFor([await issuerConfig({ id: "mesh", issuer: issuer.url, profile: "spiffe", trust_domain: "example.org", keys: { jwks_file: "bundle.json" } }, dir)], clock);
      expect((await brokerError(verifier.verify(await svid(jwtKey, { exp: T0 / 1000 - 120 })))).description).toBe("subject_token has expired");
      expect((await brokerError(verifier.verify(await svid(jwtKey, { aud: undefined })))).description).toBe('subject_token is missing the "aud" claim');
    });
  });
});
