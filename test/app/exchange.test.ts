/**
 * End-to-end token exchange through the whole broker in-process (buildBroker, app.request()):
 * happy paths per platform profile, independent verification of what was issued (metadata → JWKS → jose), attenuation, lifetime
 * caps, re-exchange, a property test over random requests, and the audit/log hygiene of it all.
 */
import { createHash } from "node:crypto";
import * as fc from "fast-check";
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeSegment, GRANTS, OIDC_SUBJECT, startInProcessBroker, TOKEN_TYPES, type InProcessBroker, type BrokerResponse } from "../support/in-process-broker.js";
import { expectRefusal } from "../support/refusal.js";
import { githubActionsClaims, gitlabCiClaims, kubernetesClaims, spiffeClaims } from "../support/test-issuer.js";

const CAP_SECONDS = 900; // BROKER_MAX_TOKEN_LIFETIME=15m in the fixture

let fx: InProcessBroker;
/** Every subject token sent and access token received in this file: none may reach a log. */
const secrets = new Set<string>();

beforeAll(async () => {
  fx = await startInProcessBroker();
});
afterAll(async () => {
  await fx?.close();
});

/** Sends an exchange, remembering the tokens that went in and came out. */
async function exchange(form: Readonly<Record<string, string | readonly string[]>>): Promise<BrokerResponse> {
  const subject = form.subject_token;
  if (typeof subject === "string") secrets.add(subject);
  const res = await fx.exchange(form);
  if (typeof res.json.access_token === "string") secrets.add(res.json.access_token);
  return res;
}

const mintGithub = () => fx.issuers.github.mint(githubActionsClaims(), { alg: "RS256" });
const mintOidc = (claims: Record<string, unknown> = {}) => fx.issuers.oidc.mint({ sub: OIDC_SUBJECT, ...claims });

/** Verifies an issued token the way a resource server would: from the broker's metadata alone. */
async function verifyIndependently(token: string, audience: string): Promise<JWTPayload> {
  const metadata = await fx.get("/.well-known/oauth-authorization-server");
  expect(metadata.status).toBe(200);
  expect(metadata.json.issuer).toBe(fx.url);
  const jwksUri = metadata.json.jwks_uri;
  expect(typeof jwksUri).toBe("string");
  const jwksRes = await fx.fetch(jwksUri as string);
  expect(jwksRes.status).toBe(200);
  const jwks = (await jwksRes.json()) as JSONWebKeySet;
  for (const key of jwks.keys) expect(key).not.toHaveProperty("d");
  const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), {
    issuer: fx.url,
    audience,
    typ: "at+jwt",
    algorithms: ["ES256"],
  });
  expect(protectedHeader.alg).toBe("ES256");
  expect(typeof protectedHeader.kid).toBe("string");
  return payload;
}

function expectTokenResponse(res: BrokerResponse): { token: string; expiresIn: number } {
  expect(res.status, res.text).toBe(200);
  expect(res.headers.get("cache-control")).toBe("no-store");
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  expect(res.json.issued_token_type).toBe(TOKEN_TYPES.accessToken);
  expect(res.json.token_type).toBe("Bearer");
  expect(typeof res.json.access_token).toBe("string");
  expect(Number.isInteger(res.json.expires_in)).toBe(true);
  return { token: res.json.access_token as string, expiresIn: res.json.expires_in as number };
}

function audiences(payload: JWTPayload): string[] {
  return typeof payload.aud === "string" ? [payload.aud] : [...(payload.aud ?? [])];
}

function scopes(payload: JWTPayload): string[] {
  return typeof payload.scope === "string" ? payload.scope.split(" ") : [];
}

describe("happy paths, one per profile, verified independently", () => {
  const cases = [
    {
      profile: "github-actions",
      mint: () => mintGithub(),
      audience: GRANTS.github.audiences[0],
      grant: GRANTS.github,
      lifetime: 600,
      extra: { repository: "octo-org/octo-repo", run_id: "9876543210" },
    },
    {
      profile: "gitlab-ci (jwks_uri)",
      mint: () => fx.issuers.gitlab.mint(gitlabCiClaims(), { alg: "RS256" }),
      audience: GRANTS.gitlab.audiences[1],
      grant: GRANTS.gitlab,
      lifetime: CAP_SECONDS,
      extra: { ref: "main" },
    },
    {
      profile: "kubernetes (discovery, ES256)",
      mint: () => fx.issuers.kubernetes.mint(kubernetesClaims()),
      audience: GRANTS.kubernetes.audiences[0],
      grant: GRANTS.kubernetes,
      lifetime: CAP_SECONDS,
      extra: { pod: "api-7d9f-abcde" },
    },
    {
      profile: "spiffe (static jwks_file)",
      mint: () => fx.issuers.spiffe.mint(spiffeClaims(), { header: { typ: "JWT" } }),
      audience: GRANTS.spiffe.audiences[0],
      grant: GRANTS.spiffe,
      lifetime: 300,
      extra: {},
    },
    {
      profile: "oidc",
      mint: () => mintOidc(),
      audience: GRANTS.oidc.audiences[2],
      grant: GRANTS.oidc,
      lifetime: CAP_SECONDS,
      extra: {},
    },
  ] as const;

  for (const c of cases) {
    it(`${c.profile}: RFC 8693 §2.2.1 response and a token any resource server can verify`, async () => {
      const res = await exchange({ ...fx.form(await c.mint()), audience: c.audience });
      const { token, expiresIn } = expectTokenResponse(res);
      expect(expiresIn).toBe(c.lifetime);
      const grantedScope = c.grant.scopes.join(" ");
      if (grantedScope === "") expect(res.json).not.toHaveProperty("scope");
      else expect(res.json.scope).toBe(grantedScope);

      const payload = await verifyIndependently(token, c.audience);
      expect(payload.iss).toBe(fx.url);
      expect(payload.sub).toBe(c.grant.workloadId);
      expect(payload.client_id).toBe(c.grant.workloadId);
      expect(payload.aud).toBe(c.audience);
      expect(payload.iat).toBeTypeOf("number");
      expect(payload.nbf).toBe(payload.iat);
      expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(c.lifetime);
      expect(Math.abs((payload.iat ?? 0) - Date.now() / 1000)).toBeLessThan(120);
      if (grantedScope === "") expect(payload).not.toHaveProperty("scope");
      else expect(payload.scope).toBe(grantedScope);
      for (const [name, value] of Object.entries(c.extra)) expect(payload[name]).toBe(value);
      // Nothing beyond the registered claims and the policy's extra claims.
      const allowed = new Set(["iss", "sub", "aud", "exp", "nbf", "iat", "iat_ms", "jti", "client_id", "scope", ...Object.keys(c.extra)]);
      expect(Object.keys(payload).filter((name) => !allowed.has(name))).toEqual([]);
    });
  }

  it("jti carries at least 128 random bits and differs between two exchanges of the same token", async () => {
    const subject = await mintGithub();
    const first = await verifyIndependently(expectTokenResponse(await exchange(fx.form(subject))).token, GRANTS.github.audiences[0]);
    const second = await verifyIndependently(expectTokenResponse(await exchange(fx.form(subject))).token, GRANTS.github.audiences[0]);
    for (const jti of [first.jti, second.jti]) {
      expect(jti).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(Buffer.from(jti ?? "", "base64url").length).toBeGreaterThanOrEqual(16);
    }
    expect(first.jti).not.toBe(second.jti);
  });

  it("accepts subject_token_type id_token as well as jwt", async () => {
    const res = await exchange(fx.form(await mintGithub(), TOKEN_TYPES.idToken));
    expectTokenResponse(res);
  });

  it("serves the same metadata at the OpenID discovery path", async () => {
    const a = await fx.get("/.well-known/oauth-authorization-server");
    const b = await fx.get("/.well-known/openid-configuration");
    expect(b.json).toEqual(a.json);
    expect(a.json.token_endpoint).toBe(`${fx.url}/token`);
  });
});

describe("lifetime = min(requested_lifetime, policy max_lifetime, BROKER_MAX_TOKEN_LIFETIME)", () => {
  const cases = [
    { name: "policy below cap, nothing asked", mint: () => mintGithub(), audience: GRANTS.github.audiences[0], asked: undefined, expected: 600 },
    { name: "policy below cap, less asked", mint: () => mintGithub(), audience: GRANTS.github.audiences[0], asked: 120, expected: 120 },
    { name: "policy below cap, more asked", mint: () => mintGithub(), audience: GRANTS.github.audiences[0], asked: 3000, expected: 600 },
    {
      name: "policy above cap, more asked",
      mint: () => fx.issuers.kubernetes.mint(kubernetesClaims()),
      audience: GRANTS.kubernetes.audiences[0],
      asked: 5000,
      expected: CAP_SECONDS,
    },
    {
      name: "policy above cap, less asked",
      mint: () => fx.issuers.kubernetes.mint(kubernetesClaims()),
      audience: GRANTS.kubernetes.audiences[0],
      asked: 61,
      expected: 61,
    },
  ] as const;
  for (const c of cases) {
    it(`${c.name} → ${c.expected}s`, async () => {
      const form: Record<string, string> = { ...fx.form(await c.mint()), audience: c.audience };
      if (c.asked !== undefined) form.requested_lifetime = String(c.asked);
      const { token, expiresIn } = expectTokenResponse(await exchange(form));
      expect(expiresIn).toBe(c.expected);
      const payload = await verifyIndependently(token, c.audience);
      expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(c.expected);
    });
  }
});

describe("attenuation: only what the policy grants", () => {
  it("narrows to the audiences and scopes asked for", async () => {
    const res = await exchange({
      ...fx.form(await mintOidc()),
      audience: ["https://a.example.com", "https://b.example.com"],
      scope: "s2 s1",
    });
    const { token } = expectTokenResponse(res);
    expect(res.json.scope).toBe("s2 s1");
    const payload = await verifyIndependently(token, "https://b.example.com");
    expect(audiences(payload).sort()).toEqual(["https://a.example.com", "https://b.example.com"]);
    expect(scopes(payload).sort()).toEqual(["s1", "s2"]);
  });

  it("treats resource like audience", async () => {
    const { token } = expectTokenResponse(await exchange({ ...fx.form(await mintOidc()), resource: "https://c.example.com" }));
    expect(audiences(await verifyIndependently(token, "https://c.example.com"))).toEqual(["https://c.example.com"]);
  });

  it("audience not granted → invalid_target", async () => {
    expectRefusal(await exchange({ ...fx.form(await mintGithub()), audience: "https://evil.example.com" }), { status: 400, error: "invalid_target" });
  });

  it("resource not granted → invalid_target", async () => {
    expectRefusal(await exchange({ ...fx.form(await mintGithub()), resource: "https://evil.example.com/api" }), { status: 400, error: "invalid_target" });
  });

  it("one granted and one ungranted audience → invalid_target", async () => {
    const res = await exchange({ ...fx.form(await mintOidc()), audience: ["https://a.example.com", "https://d.example.com"] });
    expectRefusal(res, { status: 400, error: "invalid_target" });
  });

  it("scope not granted → invalid_scope", async () => {
    expectRefusal(await exchange({ ...fx.form(await mintGithub()), scope: "deploy:read admin" }), { status: 400, error: "invalid_scope" });
  });

  it("several audiences granted and none asked → invalid_target", async () => {
    expectRefusal(await exchange(fx.form(await fx.issuers.gitlab.mint(gitlabCiClaims()))), { status: 400, error: "invalid_target" });
  });

  it("verified identity without a policy → unauthorized_client", async () => {
    expectRefusal(await exchange(fx.form(await fx.issuers.oidc.mint({ sub: "somebody-else" }))), { status: 400, error: "unauthorized_client" });
    const otherRepo = githubActionsClaims({ repoId: "999" });
    expectRefusal(await exchange(fx.form(await fx.issuers.github.mint(otherRepo, { alg: "RS256" }))), { status: 400, error: "unauthorized_client" });
  });

  it("the error description reveals no policy internals", async () => {
    const res = await exchange({ ...fx.form(await mintGithub()), scope: "admin" });
    expect(res.json.error_description).not.toMatch(/e2e-github|deploy:write|123456|condition/);
  });
});

describe("re-exchange of a broker token (subject_token_type access_token)", () => {
  let original: string;
  let originalClaims: JWTPayload;

  beforeAll(async () => {
    const res = await exchange({
      ...fx.form(await mintOidc()),
      audience: ["https://a.example.com", "https://b.example.com"],
      scope: "s1 s2 s3",
      requested_lifetime: "600",
    });
    original = expectTokenResponse(res).token;
    originalClaims = await verifyIndependently(original, "https://a.example.com");
  });

  const reExchange = (extra: Record<string, string | string[]>) => exchange({ ...fx.form(original, TOKEN_TYPES.accessToken), ...extra });

  it("yields a narrower token: subset audience and scope, same subject, never outliving the original", async () => {
    const res = await reExchange({ audience: "https://b.example.com", scope: "s3", requested_lifetime: "3600" });
    const { token, expiresIn } = expectTokenResponse(res);
    expect(res.json.scope).toBe("s3");
    const payload = await verifyIndependently(token, "https://b.example.com");
    expect(payload.sub).toBe(GRANTS.oidc.workloadId);
    expect(payload.client_id).toBe(GRANTS.oidc.workloadId);
    expect(audiences(payload)).toEqual(["https://b.example.com"]);
    expect(scopes(payload)).toEqual(["s3"]);
    expect(payload.exp).toBeLessThanOrEqual(originalClaims.exp ?? 0);
    expect(expiresIn).toBeLessThanOrEqual(600);
    expect(payload.jti).not.toBe(originalClaims.jti);
  });

  it("keeps the original's scopes when none are asked, and can narrow again", async () => {
    const first = expectTokenResponse(await reExchange({ audience: "https://a.example.com", requested_lifetime: "60" }));
    const payload = await verifyIndependently(first.token, "https://a.example.com");
    expect(scopes(payload).sort()).toEqual(["s1", "s2", "s3"]);
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(60);
    const second = await exchange({ ...fx.form(first.token, TOKEN_TYPES.accessToken), scope: "s1" });
    const narrower = await verifyIndependently(expectTokenResponse(second).token, "https://a.example.com");
    expect(scopes(narrower)).toEqual(["s1"]);
    expect(narrower.exp).toBeLessThanOrEqual(payload.exp ?? 0);
  });

  it("asking for an audience outside the original (even one the policy grants) → invalid_target", async () => {
    expectRefusal(await reExchange({ audience: "https://c.example.com" }), { status: 400, error: "invalid_target" });
  });

  it("asking for a scope outside the original (even one the policy grants) → invalid_scope", async () => {
    expectRefusal(await reExchange({ audience: "https://a.example.com", scope: "s1 s4" }), { status: 400, error: "invalid_scope" });
  });

  it("no audience asked while the original has two → invalid_target", async () => {
    expectRefusal(await reExchange({}), { status: 400, error: "invalid_target" });
  });
});

describe("property: whatever is asked, the broker never issues more than asked ∩ granted", () => {
  const grantedAudiences = GRANTS.oidc.audiences;
  const ungrantedAudiences = ["https://d.example.com", "https://evil.example.com"];
  const grantedScopes = GRANTS.oidc.scopes;
  const ungrantedScopes = ["admin", "s5"];
  const policyMax = GRANTS.oidc.maxLifetime;

  it("holds for 25 random requests", { timeout: 60_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.subarray([...grantedAudiences, ...ungrantedAudiences]),
        fc.subarray([...grantedScopes, ...ungrantedScopes]),
        fc.option(fc.integer({ min: 1, max: 2 * CAP_SECONDS }), { nil: undefined }),
        fc.boolean(),
        async (askedAudiences, askedScopes, askedLifetime, asResource) => {
          const form: Record<string, string | string[]> = { ...fx.form(await mintOidc()) };
          if (askedAudiences.length > 0) form[asResource ? "resource" : "audience"] = askedAudiences;
          if (askedScopes.length > 0) form.scope = askedScopes.join(" ");
          if (askedLifetime !== undefined) form.requested_lifetime = String(askedLifetime);
          const res = await exchange(form);

          const targetOutside = askedAudiences.some((aud) => !(grantedAudiences as readonly string[]).includes(aud));
          const scopeOutside = askedScopes.some((scope) => !(grantedScopes as readonly string[]).includes(scope));
          if (targetOutside || askedAudiences.length === 0) {
            expectRefusal(res, { status: 400, error: "invalid_target" });
            return;
          }
          if (scopeOutside) {
            expectRefusal(res, { status: 400, error: "invalid_scope" });
            return;
          }
          const { token, expiresIn } = expectTokenResponse(res);
          const payload = await verifyIndependently(token, askedAudiences[0] ?? "");
          const issuedAudiences = audiences(payload);
          const issuedScopes = scopes(payload);
          for (const aud of issuedAudiences) {
            expect(askedAudiences).toContain(aud);
            expect(grantedAudiences).toContain(aud);
          }
          for (const scope of issuedScopes) {
            expect(grantedScopes).toContain(scope);
            if (askedScopes.length > 0) expect(askedScopes).toContain(scope);
          }
          const lifetime = (payload.exp ?? 0) - (payload.iat ?? 0);
          expect(lifetime).toBe(expiresIn);
          expect(lifetime).toBeLessThanOrEqual(Math.min(askedLifetime ?? Infinity, policyMax, CAP_SECONDS));
          expect(lifetime).toBe(Math.min(askedLifetime ?? Infinity, policyMax, CAP_SECONDS));
        },
      ),
      { numRuns: 25, seed: 8693 },
    );
  });
});

describe("audit records and log hygiene (runs last: scans everything this file sent)", () => {
  const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

  const auditFor = (subjectToken: string) =>
    fx.broker
      .logRecords()
      .filter((record) => record.channel === "audit")
      .map((record) => record.audit as Record<string, unknown>)
      .filter((audit) => audit.subjectTokenSha256 === sha256(subjectToken));

  /** Audit lines are written before the response; poll briefly only for stdout to be read. */
  async function waitForAudit(subjectToken: string): Promise<Record<string, unknown>[]> {
    const deadline = Date.now() + 5_000;
    while (auditFor(subjectToken).length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    return auditFor(subjectToken);
  }

  it("one allow record with decision, policy, workload id, jti and the subject token's SHA-256", async () => {
    const subject = await mintGithub();
    const { token } = expectTokenResponse(await exchange(fx.form(subject)));
    const records = await waitForAudit(subject);
    expect(records).toHaveLength(1);
    const [record] = records;
    expect(record).toMatchObject({
      event: "token_exchange",
      decision: "allow",
      policy: "e2e-github",
      workloadId: GRANTS.github.workloadId,
      issuer: "github-actions",
      jti: decodeSegment(token, 1).jti,
      subjectTokenSha256: sha256(subject),
      subjectTokenType: TOKEN_TYPES.jwt,
    });
  });

  it("one deny record with the error code and the reason", async () => {
    const subject = await fx.issuers.oidc.mint({ sub: "nobody" });
    expectRefusal(await exchange(fx.form(subject)), { status: 400, error: "unauthorized_client" });
    const records = await waitForAudit(subject);
    expect(records).toHaveLength(1);
    const [record] = records;
    expect(record).toMatchObject({ event: "token_exchange", decision: "deny", error: "unauthorized_client", subjectTokenSha256: sha256(subject) });
    expect(record).not.toHaveProperty("jti");
    expect(String(record?.reason)).toMatch(/no_matching_policy/);
  });

  /** Every log line about one request: its access line, or its audit lines (which carry the access facts). */
  const linesOf = (requestId: string | null) =>
    fx.broker.logRecords().filter((record) => record.requestId === requestId || (record.audit as Record<string, unknown> | undefined)?.requestId === requestId);

  it("an audited request writes one line: its audit record, with the request's access facts and no access line", async () => {
    const subject = await mintGithub();
    const res = await exchange(fx.form(subject));
    expectTokenResponse(res);
    const requestId = res.headers.get("x-request-id");
    await waitForAudit(subject);
    const lines = linesOf(requestId);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ channel: "audit", msg: "token_exchange allow", requestId, method: "POST", path: "/token", status: 200 });
    expect(lines[0]?.audit).toMatchObject({ requestId, decision: "allow", subjectTokenSha256: sha256(subject) });
    expect(typeof lines[0]?.durationMs).toBe("number");
    expect(lines[0]?.clientAddress).toBe((lines[0]?.audit as Record<string, unknown>).clientAddress);
  });

  it("a refused exchange's one line carries the answer's status", async () => {
    const subject = await fx.issuers.oidc.mint({ sub: "nobody" });
    const res = await exchange(fx.form(subject));
    expectRefusal(res, { status: 400, error: "unauthorized_client" });
    await waitForAudit(subject);
    const lines = linesOf(res.headers.get("x-request-id"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ channel: "audit", method: "POST", path: "/token", status: 400, audit: { decision: "deny", error: "unauthorized_client" } });
  });

  it("a request without an audit record keeps its access line", async () => {
    const res = await fx.get("/.well-known/jwks.json");
    expect(res.status).toBe(200);
    const requestId = res.headers.get("x-request-id");
    const lines = linesOf(requestId);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ msg: "request", requestId, method: "GET", path: "/.well-known/jwks.json", status: 200 });
    expect(typeof lines[0]?.durationMs).toBe("number");
    expect(typeof lines[0]?.clientAddress).toBe("string");
    expect(lines[0]).not.toHaveProperty("channel");
  });

  it("no log line holds a subject token, an issued token, a token signature or any private key", async () => {
    expect(secrets.size).toBeGreaterThan(40);
    const output = fx.broker.output.join("\n");
    for (const token of secrets) {
      expect(output.includes(token)).toBe(false);
      const signature = token.split(".")[2] ?? "";
      expect(signature.length).toBeGreaterThan(40);
      expect(output.includes(signature)).toBe(false);
    }
    const keyMaterial = await fx.privateKeyMaterial();
    expect(keyMaterial.length).toBeGreaterThan(10);
    for (const secret of keyMaterial) expect(output.includes(secret)).toBe(false);
  });
});
