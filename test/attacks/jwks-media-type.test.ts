/**
 * An issuer's key set and discovery document are JSON, and must say so: served with a JSON media
 * type (`application/json`, `application/jwk-set+json`, another `application/*+json`), or refused
 * with a logged reason. A JWKS that comes back as an HTML page (a login portal, a proxy's error
 * page, a misrouted path that happens to hold JSON) is never taken as keys.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectNoInternals, expectRefusal } from "../support/refusal.js";
import { startInProcessBroker, type InProcessBroker } from "../support/in-process-broker.js";
import type { TestIssuer } from "../support/test-issuer.js";

/** One extra oidc issuer per case: where its keys come from, and the Content-Type served there. */
const CASES = [
  { id: "jwks-html", keys: "jwks_uri", endpoint: "jwks", contentType: "text/html; charset=utf-8", accepted: false },
  { id: "jwks-plain", keys: "jwks_uri", endpoint: "jwks", contentType: "text/plain", accepted: false },
  { id: "jwks-untyped", keys: "jwks_uri", endpoint: "jwks", contentType: "", accepted: false },
  { id: "jwks-javascript", keys: "jwks_uri", endpoint: "jwks", contentType: "application/javascript", accepted: false },
  { id: "jwks-json-prefix", keys: "jwks_uri", endpoint: "jwks", contentType: "application/jsonx", accepted: false },
  { id: "discovery-html", keys: "discovery", endpoint: "discovery", contentType: "text/html", accepted: false },
  { id: "jwk-set-json", keys: "jwks_uri", endpoint: "jwks", contentType: "application/jwk-set+json", accepted: true },
  { id: "json-charset", keys: "jwks_uri", endpoint: "jwks", contentType: "Application/JSON ; charset=UTF-8", accepted: true },
  { id: "discovery-json", keys: "discovery", endpoint: "discovery", contentType: "application/json;charset=utf-8", accepted: true },
] as const;

const WORKLOAD = "media-type-workload";

let fx: InProcessBroker;

beforeAll(async () => {
  fx = await startInProcessBroker({
    extraIssuers: CASES.length,
    extraEntries: (extra) =>
      CASES.map((spec, index) => {
        const issuer = extra[index] as TestIssuer;
        // Before the broker's first fetch (its warm-up at start).
        issuer.failWith({ contentType: spec.contentType }, spec.endpoint);
        const keys = spec.keys === "discovery" ? { discovery: true } : { jwks_uri: issuer.jwksUrl };
        return { id: spec.id, issuer: issuer.url, profile: "oidc", keys, algorithms: ["ES256"] };
      }),
    policies: Object.fromEntries(
      CASES.map((spec) => [
        `${spec.id}.policy.yaml`,
        {
          id: `media-${spec.id}`,
          issuer: spec.id,
          condition: `identity.subject == "${WORKLOAD}"`,
          grant: { workload_id: `media/${spec.id}`, audiences: ["https://keys.example.com"], max_lifetime: "5m" },
        },
      ]),
    ),
  });
}, 60_000);
afterAll(async () => {
  await fx?.close();
});

describe.each(CASES)("keys served as $contentType ($id)", (spec) => {
  const issuer = () => fx.extra[CASES.indexOf(spec)] as TestIssuer;

  if (spec.accepted) {
    it("are accepted: a token of the issuer is exchanged", async () => {
      const res = await fx.exchange(fx.form(await issuer().mint({ sub: WORKLOAD })));
      expect(res.status, res.text).toBe(200);
    });
    return;
  }

  it("are refused: 503 temporarily_unavailable, and the reason (the media type) is logged", async () => {
    const res = await fx.exchange(fx.form(await issuer().mint({ sub: WORKLOAD })));
    expectRefusal(res, { status: 503, error: "temporarily_unavailable" });
    expectNoInternals(res);
    const failures = fx.broker.logRecords().filter((record) => record.msg === "issuer keys refresh failed" && record.issuer === spec.id);
    expect(failures.length).toBeGreaterThan(0);
    expect(String(failures.at(-1)?.reason)).toMatch(/not a JSON media type/);
  });
});
