/**
 * Issuer key availability: a JWKS outage after keys were cached does not stop known keys
 * verifying; an issuer whose keys were never had is 503 temporarily_unavailable with
 * Retry-After (never a 400 that blames the caller, never a 500); oversized, overfull or broken
 * key sets are never accepted; a rotation at the issuer is picked up (after the broker's refetch
 * cooldown, so at most one fetch per cooldown however many unknown kids arrive) and the
 * retired key's tokens are refused from then on.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectNeverAllowed, verifiedTokenCacheLookups } from "../support/attack-helpers.js";
import { expectNoInternals, expectRefusal } from "../support/refusal.js";
import { eventually, startInProcessBroker, type InProcessBroker, type BrokerResponse } from "../support/in-process-broker.js";
import { freePort } from "../support/broker-process.js";
import { generateSigningKey, type FailureMode, type TestIssuer, type TestSigningKey } from "../support/test-issuer.js";

/** Extra issuers, in order; each is an oidc-profile issuer with its own key source and failure. */
const EXTRA = [
  { id: "rotating", keys: "discovery", failure: "none" },
  { id: "flaky", keys: "jwks_uri", failure: "none" },
  { id: "unreachable", keys: "closed-port", failure: "none" },
  { id: "oversized", keys: "jwks_uri", failure: "oversized" },
  { id: "oversized-chunked", keys: "jwks_uri", failure: "oversized-chunked" },
  { id: "too-many-keys", keys: "jwks_uri", failure: "too-many-keys" },
  { id: "invalid-json", keys: "discovery", failure: "invalid-json" },
] as const satisfies readonly { id: string; keys: string; failure: FailureMode }[];

type ExtraId = (typeof EXTRA)[number]["id"];
const WORKLOAD = "keys-workload";
const COOLDOWN_SECONDS = 2;

let fx: InProcessBroker;
const refusedTokens: string[] = [];

beforeAll(async () => {
  const closedPort = await freePort();
  fx = await startInProcessBroker({
    // A short refetch cooldown keeps the rotation test quick; the bound itself is the same code.
    env: { BROKER_JWKS_REFETCH_COOLDOWN: `${COOLDOWN_SECONDS}s` },
    extraIssuers: EXTRA.length,
    extraEntries: (extra) =>
      EXTRA.map((spec, index) => {
        const issuer = extra[index] as TestIssuer;
        // Break the endpoint before the broker's first fetch (its warm-up at start).
        issuer.failWith(spec.failure);
        const keys =
          spec.keys === "discovery"
            ? { discovery: true }
            : spec.keys === "jwks_uri"
              ? { jwks_uri: issuer.jwksUrl }
              : { jwks_uri: `http://127.0.0.1:${closedPort}/jwks` };
        return { id: spec.id, issuer: issuer.url, profile: "oidc", keys, algorithms: ["ES256", "RS256"] };
      }),
    policies: Object.fromEntries(
      EXTRA.map((spec) => [
        `${spec.id}.policy.yaml`,
        {
          id: `keys-${spec.id}`,
          issuer: spec.id,
          condition: `identity.subject == "${WORKLOAD}"`,
          grant: { workload_id: `keys/${spec.id}`, audiences: ["https://keys.example.com"], scopes: ["k"], max_lifetime: "5m" },
        },
      ]),
    ),
  });
});
afterAll(async () => {
  await fx?.close();
});

const issuer = (id: ExtraId): TestIssuer => fx.extra[EXTRA.findIndex((spec) => spec.id === id)] as TestIssuer;
const keyOf = (id: ExtraId, alg: "ES256" | "RS256"): TestSigningKey => issuer(id).keys.find((key) => key.alg === alg) as TestSigningKey;

async function exchangeWith(id: ExtraId, options: { key?: TestSigningKey; alg?: "ES256" | "RS256" } = {}): Promise<BrokerResponse> {
  const token = await issuer(id).mint({ sub: WORKLOAD }, options);
  const res = await fx.exchange(fx.form(token));
  if (res.status !== 200) refusedTokens.push(token);
  expectNoInternals(res);
  return res;
}

function expectUnavailable(res: BrokerResponse): void {
  expectRefusal(res, { status: 503, error: "temporarily_unavailable" });
  const retryAfter = res.headers.get("retry-after");
  expect(retryAfter).toMatch(/^\d+$/);
  expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
}

describe("JWKS outage after keys were cached", () => {
  it("control: both of the issuer's keys verify while its JWKS is up", async () => {
    expect((await exchangeWith("flaky", { alg: "ES256" })).status).toBe(200);
    expect((await exchangeWith("flaky", { alg: "RS256" })).status).toBe(200);
  });

  it("JWKS answering 500: tokens with known kids still verify", async () => {
    issuer("flaky").failWith("500");
    expect((await exchangeWith("flaky", { alg: "ES256" })).status).toBe(200);
    expect((await exchangeWith("flaky", { alg: "RS256" })).status).toBe(200);
  });

  it("JWKS answering 500: a token verified twice before the outage is still answered from the verified-token cache", async () => {
    issuer("flaky").failWith("none");
    const token = await issuer("flaky").mint({ sub: WORKLOAD });
    // Cached on its second verification (the doorkeeper), while the issuer's JWKS is up.
    for (let i = 0; i < 2; i++) expect((await fx.exchange(fx.form(token))).status).toBe(200);
    issuer("flaky").failWith("500");
    const before = await verifiedTokenCacheLookups(fx);
    const res = await fx.exchange(fx.form(token));
    expect(res.status, res.text).toBe(200);
    expect((await verifiedTokenCacheLookups(fx)).hit, "the token was answered by the verified-token cache").toBe(before.hit + 1);
  });

  it("during the outage an unknown kid is the caller's problem (400), and a kid flood costs at most one fetch", async () => {
    const flaky = issuer("flaky");
    flaky.resetRequests();
    for (let i = 0; i < 5; i += 1) {
      const stranger = await generateSigningKey("ES256");
      expectRefusal(await exchangeWith("flaky", { key: stranger }), { status: 400, error: "invalid_request", description: /signing key is not published/ });
    }
    expect(flaky.requests.jwks).toBeLessThanOrEqual(1);
  });

  it("JWKS hanging: tokens with known kids still verify without waiting on it", async () => {
    issuer("flaky").failWith("hang");
    expect((await exchangeWith("flaky", { alg: "ES256" })).status).toBe(200);
    issuer("flaky").failWith("none");
  });
});

describe("keys never had", () => {
  it("an issuer whose JWKS was never reachable → 503 temporarily_unavailable with Retry-After", async () => {
    expectUnavailable(await exchangeWith("unreachable"));
    expectUnavailable(await exchangeWith("unreachable", { alg: "RS256" }));
  });

  for (const id of ["oversized", "oversized-chunked", "too-many-keys", "invalid-json"] as const) {
    it(`a JWKS that is ${id} is not accepted → 503 temporarily_unavailable`, async () => {
      expectUnavailable(await exchangeWith(id));
      expect(issuer(id).requests.jwks).toBeGreaterThanOrEqual(1);
    });
  }

  it("an oversized JWKS never makes the broker log its body", async () => {
    expect(fx.broker.output.some((line) => line.includes("x".repeat(1000)))).toBe(false);
    const failures = fx.broker.logRecords().filter((record) => record.msg === "issuer keys refresh failed");
    for (const id of ["unreachable", "oversized", "oversized-chunked", "too-many-keys", "invalid-json"]) {
      expect(failures.some((record) => record.issuer === id)).toBe(true);
    }
  });
});

describe("key rotation at the issuer", () => {
  it("a new key (new kid) is fetched and accepted; the retired key's tokens are refused", { timeout: 30_000 }, async () => {
    const rotating = issuer("rotating");
    const oldKey = keyOf("rotating", "ES256");
    expect((await exchangeWith("rotating", { key: oldKey })).status).toBe(200);

    const newKey = await rotating.rotate({ alg: "ES256", retireOld: true });
    expect(newKey.kid).not.toBe(oldKey.kid);
    rotating.resetRequests();
    let attempts = 0;
    // The broker refetches on an unknown kid at most once per cooldown (COOLDOWN_SECONDS after
    // its last fetch): poll until it has, with a deadline well past the cooldown.
    await eventually(
      async () => {
        attempts += 1;
        const token = await rotating.mint({ sub: WORKLOAD }, { key: newKey });
        const res = await fx.exchange(fx.form(token));
        expectNoInternals(res);
        if (res.status === 200) return true;
        expect(res.json.error).toBe("invalid_request");
        return false;
      },
      20_000,
      "the rotated key to be accepted",
    );
    // However many unknown-kid tokens arrived meanwhile, the issuer saw at most a couple of fetches.
    expect(rotating.requests.jwks).toBeGreaterThanOrEqual(1);
    expect(rotating.requests.jwks).toBeLessThanOrEqual(2);
    expect(attempts).toBeGreaterThanOrEqual(1);

    expectRefusal(await exchangeWith("rotating", { key: oldKey }), { status: 400, error: "invalid_request", description: /signing key is not published/ });
    // The RS256 key was not rotated and still verifies.
    expect((await exchangeWith("rotating", { alg: "RS256" })).status).toBe(200);
  });

  it("none of the refused tokens was ever allowed in the audit log", async () => {
    await expectNeverAllowed(fx, refusedTokens);
  });
});
