/**
 * One security suite for every bearer-protected route of ROUTE_TABLE (admin API and
 * introspection): the same refusals, whatever the route. A route added to the table with one of
 * these auth modes is covered without touching this file.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROUTE_TABLE, type AuthMode } from "../../src/app.js";
import {
  ADMIN_SCOPE,
  ADMIN_SECRET,
  bearer,
  createRevocationApp,
  formRequest,
  INTROSPECTION_SCOPE,
  ISSUER,
  jsonRequest,
  type RevocationApp,
} from "../support/revocation-app.js";
import { readAnswer } from "../support/broker-http.js";
import { expectRefusal } from "../support/refusal.js";

type ProtectedMode = Extract<AuthMode, "bearer-admin" | "bearer-introspection">;
const PROTECTED_MODES: readonly AuthMode[] = ["bearer-admin", "bearer-introspection"];
const SCOPE: Record<ProtectedMode, string> = { "bearer-admin": ADMIN_SCOPE, "bearer-introspection": INTROSPECTION_SCOPE };

const ROUTES = ROUTE_TABLE.filter((route): route is (typeof ROUTE_TABLE)[number] & { auth: ProtectedMode } => PROTECTED_MODES.includes(route.auth));

/** A well-formed request body per route, so only authentication can make it fail. */
function request(route: (typeof ROUTES)[number], authorization: string | undefined): [string, RequestInit] {
  const path = route.path.replace(":workloadId", encodeURIComponent("security/suite"));
  if (route.auth === "bearer-introspection") return [path, formRequest({ token: "not-a-token" }, authorization)];
  const bodies: Record<string, unknown> = {
    "/admin/revocations/tokens": { jti: "security-suite-jti", reason: "security suite" },
    "/admin/revocations/workloads": { workload_id: "security/suite", reason: "security suite" },
    "/admin/revocations/svids": { serial: SUITE_SERIAL, reason: "security suite" },
  };
  return [path, jsonRequest(route.method, route.method === "POST" ? bodies[route.path] : undefined, authorization)];
}

/** An X.509-SVID serial recorded in the store, so revoking it by serial succeeds. */
const SUITE_SERIAL = "5ec0517e";

/** Words that would tell a caller something about the store or the reason for a refusal. */
const LEAKS = /memory|redis|store|revoked|expired|signature|jti|aud|scope .*lacks|workload\//i;

let fx: RevocationApp;
const credentials: Record<string, string> = {};

beforeAll(async () => {
  fx = await createRevocationApp();
  const live = async (scopes: string[], extra: Parameters<RevocationApp["mint"]>[0] = {}) => (await fx.mint({ subject: "operator/alice", scopes, ...extra })).token;
  credentials.admin = await live([ADMIN_SCOPE]);
  credentials.introspector = await live([INTROSPECTION_SCOPE]);
  credentials.noScope = await live(["deploy:read"]);
  credentials.otherKey = await live([ADMIN_SCOPE, INTROSPECTION_SCOPE], { minter: fx.otherKeyMinter });
  credentials.foreign = await live([ADMIN_SCOPE, INTROSPECTION_SCOPE], { minter: fx.foreignMinter });
  credentials.otherAudience = await live([ADMIN_SCOPE, INTROSPECTION_SCOPE], { audiences: ["https://api.example.com"] });
  // Minted in the past: expired by now.
  fx.clock.advance(-3_600_000);
  credentials.expired = await live([ADMIN_SCOPE, INTROSPECTION_SCOPE], { lifetime: 600 });
  fx.clock.advance(3_600_000);
  const revoked = await fx.mint({ subject: "operator/mallory", scopes: [ADMIN_SCOPE, INTROSPECTION_SCOPE] });
  credentials.revoked = revoked.token;
  await fx.store.revokeToken({ jti: revoked.jti, expiresAt: revoked.expiresAt, actor: "test", reason: "compromised", at: revoked.issuedAt });
  await fx.store.recordSvid({ serial: SUITE_SERIAL, workloadId: "security/suite", issuedAt: revoked.issuedAt, expiresAt: revoked.issuedAt + 3600 });
});
afterAll(async () => {
  await fx?.close();
});

const sameLengthWrongSecret = ADMIN_SECRET.slice(0, -1) + (ADMIN_SECRET.endsWith("x") ? "y" : "x");

const UNAUTHENTICATED: readonly { name: string; authorization: () => string | undefined }[] = [
  { name: "no Authorization header", authorization: () => undefined },
  { name: "Basic credentials", authorization: () => `Basic ${Buffer.from(`admin:${ADMIN_SECRET}`).toString("base64")}` },
  { name: "Bearer with nothing", authorization: () => "Bearer" },
  { name: "Bearer with only spaces", authorization: () => "Bearer    " },
  { name: "Bearer with a malformed credential", authorization: () => "Bearer a b c" },
  { name: "wrong secret of the same length", authorization: () => bearer(sameLengthWrongSecret) },
  { name: "wrong secret of another length", authorization: () => bearer(`${ADMIN_SECRET}-longer`) },
  { name: "the secret as a prefix", authorization: () => bearer(ADMIN_SECRET.slice(0, 32)) },
  { name: "broker-shaped token signed by another key", authorization: () => bearer(credentials.otherKey as string) },
  { name: "token from a foreign issuer", authorization: () => bearer(credentials.foreign as string) },
  { name: "expired broker token", authorization: () => bearer(credentials.expired as string) },
  { name: "broker token for another audience", authorization: () => bearer(credentials.otherAudience as string) },
  { name: "revoked broker token", authorization: () => bearer(credentials.revoked as string) },
  { name: "token in the query string instead of the header", authorization: () => undefined },
];

/** RFC 6750 §3.1: a request with no credential of the Bearer scheme gets a challenge without an error code. */
const NO_CREDENTIALS = new Set(["no Authorization header", "Basic credentials", "token in the query string instead of the header"]);

async function expectBearerRefusal(res: Response, status: 401 | 403, credential?: string, noCredentials = false): Promise<void> {
  const answer = await readAnswer(res);
  expectRefusal(answer, { status, error: status === 401 ? "invalid_token" : "insufficient_scope" });
  const challenge = noCredentials ? `Bearer realm="${ISSUER}"` : `Bearer realm="${ISSUER}", error="${status === 401 ? "invalid_token" : "insufficient_scope"}"`;
  expect(answer.headers.get("www-authenticate")).toBe(challenge);
  expect(Object.keys(answer.json).sort()).toEqual(["error", "error_description"]);
  const text = answer.text;
  expect(text).not.toMatch(LEAKS);
  expect(text).not.toContain(ADMIN_SECRET);
  if (credential) expect(text).not.toContain(credential);
}

describe.each(ROUTES)("$method $path ($auth)", (route) => {
  it.each(UNAUTHENTICATED)("401 for $name", async ({ name, authorization }) => {
    const value = authorization();
    const [path, init] = request(route, value);
    const target = name.includes("query string") ? `${path}?access_token=${encodeURIComponent(credentials.admin as string)}` : path;
    await expectBearerRefusal(await fx.app.request(target, init), 401, value?.slice(7), NO_CREDENTIALS.has(name));
  });

  it("403 insufficient_scope for a valid broker token without the scope", async () => {
    await expectBearerRefusal(await fx.app.request(...request(route, bearer(credentials.noScope as string))), 403);
  });

  it("403 for a valid token carrying only the other protected scope", async () => {
    const other = route.auth === "bearer-admin" ? credentials.introspector : credentials.admin;
    await expectBearerRefusal(await fx.app.request(...request(route, bearer(other as string))), 403);
  });

  it("accepts a valid token with the scope (the refusals above are not a blanket 401)", async () => {
    const token = (await fx.mint({ subject: "operator/bob", scopes: ["other:scope", SCOPE[route.auth]] })).token;
    const res = await fx.app.request(...request(route, bearer(token)));
    expect([200, 201, 204, 404]).toContain(res.status);
    if (res.status === 404) expect(route.method).toBe("DELETE"); // no block to lift: the caller got through
  });

  it(route.auth === "bearer-admin" ? "accepts the bootstrap secret" : "refuses the bootstrap admin secret", async () => {
    const res = await fx.app.request(...request(route, bearer(ADMIN_SECRET)));
    if (route.auth === "bearer-admin") expect([200, 201, 204, 404]).toContain(res.status);
    else await expectBearerRefusal(res, 401, ADMIN_SECRET);
  });

  it("503 temporarily_unavailable for a valid token while the store is down, with nothing about the store", async () => {
    const token = route.auth === "bearer-admin" ? credentials.admin : credentials.introspector;
    fx.store.down = true;
    try {
      const res = await fx.app.request(...request(route, bearer(token as string)));
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
      const body = (await res.json()) as Record<string, unknown>;
      expect(body.error).toBe("temporarily_unavailable");
      expect(JSON.stringify(body)).not.toMatch(/memory|redis|down \(test\)/i);
    } finally {
      fx.store.down = false;
    }
  });
});

describe("the table covers the protected surface", () => {
  it("lists every admin route and introspection with a bearer auth mode", () => {
    expect(ROUTES.map((route) => `${route.method} ${route.path}`).sort()).toEqual([
      "DELETE /admin/blocks/:workloadId",
      "GET /admin/revocations",
      "GET /admin/workloads",
      "POST /admin/revocations/svids",
      "POST /admin/revocations/tokens",
      "POST /admin/revocations/workloads",
      "POST /introspect",
    ]);
    for (const route of ROUTE_TABLE) if (route.path.startsWith("/admin/")) expect(route.auth).toBe("bearer-admin");
  });

  it("/admin and /admin/ themselves are no route: a plain 404, no challenge", async () => {
    for (const path of ["/admin", "/admin/"]) {
      const res = await fx.app.request(path);
      expect(res.status, path).toBe(404);
      expect(res.headers.get("www-authenticate"), path).toBeNull();
    }
  });

  it("an unknown /admin/ path is 401 to an unauthenticated caller (no route discovery)", async () => {
    const res = await fx.app.request("/admin/does-not-exist");
    await expectBearerRefusal(res, 401, undefined, true);
  });

  it("refusals are audited without the credential", async () => {
    const before = fx.audit.length;
    await fx.app.request("/admin/revocations", { headers: { authorization: bearer(sameLengthWrongSecret) } });
    const records = fx.audit.slice(before);
    expect(records).toEqual([expect.objectContaining({ event: "admin", action: "authenticate", outcome: "denied", error: "invalid_token" })]);
    expect(JSON.stringify(fx.audit)).not.toContain(sameLengthWrongSecret);
    expect(JSON.stringify(fx.audit)).not.toContain(ADMIN_SECRET);
  });
});

describe("without a bootstrap secret", () => {
  let bare: RevocationApp;
  beforeAll(async () => {
    bare = await createRevocationApp({ adminSecret: null });
  });
  afterAll(async () => {
    await bare?.close();
  });

  it("no secret opens /admin/, admin tokens still do", async () => {
    const res = await bare.app.request("/admin/revocations", { headers: { authorization: bearer(ADMIN_SECRET) } });
    expect(res.status).toBe(401);
    const admin = await bare.mint({ subject: "operator/alice", scopes: [ADMIN_SCOPE], audiences: [ISSUER] });
    expect((await bare.app.request("/admin/revocations", { headers: { authorization: bearer(admin.token) } })).status).toBe(200);
  });
});
