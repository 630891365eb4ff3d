/**
 * SPIFFE issuers through the broker in-process (buildBroker, app.request()): a configuration that would accept EdDSA JWT-SVIDs
 * (JWT-SVID §2.1 allows RS, ES and PS only) or that does not say which trust domain its bundle
 * belongs to stops the broker at start with a clear error; a JWT-SVID verified by one trust
 * domain's keys that names a SPIFFE ID in another trust domain is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startInProcessBroker, type InProcessBroker } from "../support/in-process-broker.js";
import { expectRefusal } from "../support/refusal.js";
import { spiffeClaims } from "../support/test-issuer.js";

const AUDIENCE = "https://mesh.example.com";

describe("spiffe issuers in issuers.yaml", () => {
  it("refuses to start with a spiffe issuer allowing EdDSA, naming the rule", async () => {
    const started = startInProcessBroker({
      extraIssuers: 1,
      extraEntries: ([issuer]) => [
        { id: "mesh-eddsa", issuer: issuer?.url ?? "", profile: "spiffe", trust_domain: "mesh.example", keys: { jwks_uri: issuer?.jwksUrl ?? "" }, algorithms: ["ES256", "EdDSA"] },
      ],
    });
    await expect(started).rejects.toThrow(/issuers\[5\] \(id \\?"mesh-eddsa\\?"\) algorithms: JWT-SVIDs are signed with RS256, RS384, RS512, ES256, ES384, ES512, PS256, PS384, PS512 only \(JWT-SVID §2\.1\)/);
  }, 60_000);

  it("refuses to start with a spiffe issuer that does not name its trust domain", async () => {
    const started = startInProcessBroker({
      extraIssuers: 1,
      extraEntries: ([issuer]) => [{ id: "mesh-anywhere", issuer: issuer?.url ?? "", profile: "spiffe", keys: { jwks_uri: issuer?.jwksUrl ?? "" }, algorithms: ["ES256"] }],
    });
    await expect(started).rejects.toThrow(/issuers\[5\] \(id \\?"mesh-anywhere\\?"\) trust_domain: is required for profile spiffe/);
  }, 60_000);
});

describe("a JWT-SVID naming another trust domain", () => {
  let fx: InProcessBroker;

  beforeAll(async () => {
    fx = await startInProcessBroker({
      // A policy that looks at the path only, as a careless one might: the issuer binding must hold anyway.
      policies: {
        "0-spiffe-any-domain.policy.yaml": {
          id: "spiffe-any-domain",
          issuer: "spiffe",
          condition: 'identity.attributes.path.startsWith("/ns/prod/")',
          grant: { workload_id_expr: "identity.subject", audiences: [AUDIENCE], max_lifetime: "5m" },
        },
      },
    });
  }, 60_000);
  afterAll(async () => {
    await fx?.close();
  });

  it("is refused when signed with the example.org bundle's key but naming spiffe://other.org/…", async () => {
    const token = await fx.issuers.spiffe.mint(spiffeClaims("spiffe://other.org/ns/prod/sa/api", { iat: undefined }));
    expectRefusal(await fx.exchange({ ...fx.form(token), audience: AUDIENCE }), { status: 400, error: "invalid_request", description: /^subject_token claims do not fit the spiffe profile$/ });
    const own = await fx.issuers.spiffe.mint(spiffeClaims("spiffe://example.org/ns/prod/sa/api", { iat: undefined }));
    const res = await fx.exchange({ ...fx.form(own), audience: AUDIENCE });
    expect(res.status, res.text).toBe(200);
  });
});
