/**
 * Where a discovery document may send the broker for keys, through the broker in-process (a real
 * process for the production start) and real loopback discovery servers: never to plain http in production (not even loopback), never to an
 * origin other than the issuer's unless the operator listed it in `jwks_uri_origins`. A refused
 * `jwks_uri` is never fetched; tokens of that issuer get 503 (no usable keys), never a guess.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initSigningKeys } from "../../src/credentials/key-rotation.js";
import { systemClock } from "../../src/lib/clock.js";
import { startBrokerFixture, type BrokerFixture, type BrokerUnderTest } from "../support/broker-fixture.js";
import { startInProcessBroker, type InProcessBroker } from "../support/in-process-broker.js";
import { startCountingServer, type CountingServer } from "../support/attack-helpers.js";
import { expectRefusal } from "../support/refusal.js";
import type { TestIssuer } from "../support/test-issuer.js";

const SUBJECT = "oidc-workload";
const AUDIENCE = "https://a.example.com";

const policyFor = (issuer: string) => ({
  id: `e2e-${issuer}`,
  issuer,
  condition: `identity.subject == "${SUBJECT}"`,
  grant: { workload_id: `wl-${issuer}`, audiences: [AUDIENCE], max_lifetime: "10m" },
});

const exchange = (fx: BrokerUnderTest, token: string) => fx.exchange({ ...fx.form(token), audience: AUDIENCE });

describe("development (loopback http allowed): the jwks_uri must be on the issuer's origin", () => {
  let fx: InProcessBroker;
  let elsewhere: CountingServer;
  let crossOrigin: TestIssuer;
  let keyHost: TestIssuer;
  let listed: TestIssuer;

  beforeAll(async () => {
    elsewhere = await startCountingServer();
    fx = await startInProcessBroker({
      extraIssuers: 3,
      extraEntries: ([first, second, third]) => {
        if (first === undefined || second === undefined || third === undefined) throw new Error("three extra issuers expected");
        // `cross` names a JWKS on another origin nobody configured; `listed` names one on keyHost's
        // origin, which its entry lists in jwks_uri_origins.
        first.serveDiscovery({ issuer: first.url, jwks_uri: `${elsewhere.url}/jwks` });
        third.serveDiscovery({ issuer: third.url, jwks_uri: second.jwksUrl });
        second.serveJwks(third.jwks());
        return [
          { id: "cross", issuer: first.url, profile: "oidc", keys: { discovery: true }, algorithms: ["ES256"] },
          { id: "listed", issuer: third.url, profile: "oidc", keys: { discovery: true }, algorithms: ["ES256"], jwks_uri_origins: [second.url] },
        ];
      },
      policies: { "cross.policy.yaml": policyFor("cross"), "listed.policy.yaml": policyFor("listed") },
    });
    [crossOrigin, keyHost, listed] = fx.extra as [TestIssuer, TestIssuer, TestIssuer];
  }, 60_000);
  afterAll(async () => {
    await fx?.close();
    await elsewhere?.close();
  });

  it("never fetches a jwks_uri on another origin: the issuer's tokens get 503, and the other host no request", async () => {
    const res = await exchange(fx, await crossOrigin.mint({ sub: SUBJECT }));
    expectRefusal(res, { status: 503, error: "temporarily_unavailable" });
    expect(elsewhere.requests()).toBe(0);
    expect(crossOrigin.requests.discovery).toBeGreaterThan(0);
    expect(fx.broker.output.some((line) => line.includes("jwks_uri") && line.includes("must be on the issuer's origin"))).toBe(true);
  });

  it("fetches a jwks_uri on an origin listed in jwks_uri_origins", async () => {
    const res = await exchange(fx, await listed.mint({ sub: SUBJECT }));
    expect(res.status, res.text).toBe(200);
    expect(keyHost.requests.jwks).toBeGreaterThan(0);
  });
});

describe("production (NODE_ENV=production): a learned jwks_uri must be https, even on loopback", () => {
  let fx: BrokerFixture;
  let plain: TestIssuer;

  beforeAll(async () => {
    fx = await startBrokerFixture({
      // Production keys written beforehand: a production start never generates or trusts development keys.
      env: { NODE_ENV: "production" },
      prepareKeys: (keysDir) => initSigningKeys(join(keysDir, "signing"), { clock: systemClock }),
      extraIssuers: 1,
      extraEntries: ([issuer]) => [{ id: "plain", issuer: issuer?.url ?? "", profile: "oidc", keys: { discovery: true }, algorithms: ["ES256"] }],
      policies: { "plain.policy.yaml": policyFor("plain") },
    });
    plain = fx.extra[0] as TestIssuer;
  }, 60_000);
  afterAll(async () => {
    await fx?.close();
  });

  it("refuses http://127.0.0.1 as a jwks_uri: the keys are never fetched in cleartext", async () => {
    const res = await exchange(fx, await plain.mint({ sub: SUBJECT }));
    expectRefusal(res, { status: 503, error: "temporarily_unavailable" });
    expect(plain.requests.discovery).toBeGreaterThan(0);
    expect(plain.requests.jwks).toBe(0);
  });
});
