/**
 * RFC 7662 introspection, RFC 7009 revocation and the admin API, through the real HTTP layer
 * (createApp + app.request()) with a real MemoryRevocationStore, real keys and a ManualClock.
 */
import { CUTOFF_MARGIN_MS } from "../../src/revocation/revocation-store.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  ADMIN_SCOPE,
  ADMIN_SECRET,
  bearer,
  createRevocationApp,
  formRequest,
  INTROSPECTION_SCOPE,
  ISSUER,
  jsonRequest,
  MAX_LIFETIME,
  START_MS,
  type RevocationApp,
} from "../support/revocation-app.js";
import { readAnswer } from "../support/broker-http.js";
import { expectRefusal } from "../support/refusal.js";

const NOW = START_MS / 1000;
let fx: RevocationApp;
let introspector: string;

beforeEach(async () => {
  fx = await createRevocationApp();
  introspector = (await fx.mint({ subject: "resource-server/ledger", scopes: [INTROSPECTION_SCOPE], lifetime: MAX_LIFETIME })).token;
});
afterEach(async () => {
  await fx.close();
});

async function introspect(token: string, extra: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const res = await fx.app.request("/introspect", formRequest({ token, ...extra }, bearer(introspector)));
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

const revoke = (fields: Record<string, string | readonly string[]>) => fx.app.request("/revoke", formRequest(fields));
const admin = (method: string, path: string, body?: unknown) => fx.app.request(path, jsonRequest(method, body, bearer(ADMIN_SECRET)));

describe("POST /introspect (RFC 7662)", () => {
  it("describes an active broker token with the §2.2 fields and Cache-Control: no-store", async () => {
    const issued = await fx.mint({ subject: "github/1/2", scopes: ["deploy:read", "deploy:write"], audiences: ["https://a.example", "https://b.example"] });
    const { status, headers, body } = await introspect(issued.token, { token_type_hint: "access_token" });
    expect(status).toBe(200);
    expect(headers.get("cache-control")).toBe("no-store");
    expect(body).toEqual({
      active: true,
      scope: "deploy:read deploy:write",
      client_id: "github/1/2",
      sub: "github/1/2",
      aud: ["https://a.example", "https://b.example"],
      iss: ISSUER,
      exp: NOW + 600,
      iat: NOW,
      nbf: NOW,
      jti: issued.jti,
      token_type: "Bearer",
    });
  });

  it("a token for any audience can be introspected (the caller's own token must name the broker)", async () => {
    const issued = await fx.mint({ audiences: ["https://elsewhere.example"] });
    expect((await introspect(issued.token)).body.active).toBe(true);
  });

  it("is inactive, with no other field, for malformed, foreign, other-key and expired tokens", async () => {
    const foreign = await fx.mint({ minter: fx.foreignMinter });
    const otherKey = await fx.mint({ minter: fx.otherKeyMinter });
    const expiring = await fx.mint({ lifetime: 60 });
    for (const token of ["garbage", "a.b.c", foreign.token, otherKey.token, "x".repeat(20_000)]) {
      expect((await introspect(token)).body).toEqual({ active: false });
    }
    fx.clock.advance(61_000);
    expect((await introspect(expiring.token)).body).toEqual({ active: false });
  });

  it("is inactive once revoked by jti (admin API) and stays so", async () => {
    const issued = await fx.mint({});
    expect((await admin("POST", "/admin/revocations/tokens", { jti: issued.jti, reason: "leaked in a log" })).status).toBe(201);
    expect((await introspect(issued.token)).body).toEqual({ active: false });
  });

  it("is inactive once its workload is revoked; a token issued later is active", async () => {
    const before = await fx.mint({ subject: "k8s/payments/api" });
    const otherWorkload = await fx.mint({ subject: "k8s/payments/worker" });
    expect((await admin("POST", "/admin/revocations/workloads", { workload_id: "k8s/payments/api", reason: "pod compromised" })).status).toBe(201);
    expect((await introspect(before.token)).body).toEqual({ active: false });
    expect((await introspect(otherWorkload.token)).body.active).toBe(true);
    // fx.mint skips the issuance check (which would stamp the token after the cutoff it reads), so
    // the clock must pass the cutoff's margin for ahead-running replicas.
    fx.clock.advance(CUTOFF_MARGIN_MS + 1);
    const after = await fx.mint({ subject: "k8s/payments/api" });
    expect((await introspect(after.token)).body.active).toBe(true);
  });

  it("refuses a request without token, with a repeated token, or not form-encoded", async () => {
    const missing = await fx.app.request("/introspect", formRequest({}, bearer(introspector)));
    expectRefusal(await readAnswer(missing), { status: 400, error: "invalid_request" });
    const repeated = await fx.app.request("/introspect", formRequest({ token: ["a", "b"] }, bearer(introspector)));
    expectRefusal(await readAnswer(repeated), { status: 400, error: "invalid_request" });
    const json = await fx.app.request("/introspect", jsonRequest("POST", { token: "a" }, bearer(introspector)));
    expectRefusal(await readAnswer(json), { status: 415, error: "invalid_request" });
    const get = await fx.app.request("/introspect", { headers: { authorization: bearer(introspector) } });
    expectRefusal(await readAnswer(get), { status: 405, error: "invalid_request" });
    expect(get.headers.get("allow")).toBe("POST");
  });

  it("answers 503 temporarily_unavailable with Retry-After when the store is down, never active: true", async () => {
    const issued = await fx.mint({});
    fx.store.down = true;
    const res = await readAnswer(await fx.app.request("/introspect", formRequest({ token: issued.token }, bearer(introspector))));
    expectRefusal(res, { status: 503, error: "temporarily_unavailable" });
    expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(res.json.active).toBeUndefined();
    fx.store.down = false;
    expect((await introspect(issued.token)).body.active).toBe(true);
  });
});

describe("POST /revoke (RFC 7009)", () => {
  it("the holder revokes its own token: 200, empty body, then inactive; audited without the token", async () => {
    const issued = await fx.mint({ subject: "github/1/2" });
    const res = await revoke({ token: issued.token, token_type_hint: "access_token" });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("");
    expect((await introspect(issued.token)).body).toEqual({ active: false });
    const listing = (await (await admin("GET", "/admin/revocations")).json()) as { tokens: Record<string, unknown>[] };
    expect(listing.tokens).toEqual([
      { jti: issued.jti, expires_at: issued.expiresAt, actor: "github/1/2", reason: "revoked by holder (RFC 7009)", recorded_at: NOW },
    ]);
    expect(fx.audit).toContainEqual(expect.objectContaining({ event: "token_revocation", actor: "github/1/2", jti: issued.jti, outcome: "revoked" }));
    expect(JSON.stringify(fx.audit)).not.toContain(issued.token);
  });

  it("answers 200 for invalid, foreign and expired tokens and stores nothing for them", async () => {
    const foreign = await fx.mint({ minter: fx.foreignMinter });
    const expiring = await fx.mint({ lifetime: 60 });
    fx.clock.advance(61_000);
    for (const token of ["garbage", foreign.token, expiring.token]) {
      const res = await revoke({ token });
      expect(res.status).toBe(200);
      expect(await res.text()).toBe("");
    }
    expect((await fx.store.list()).tokens).toEqual([]);
  });

  it("ignores an unknown token_type_hint (§2.1: the server searches anyway)", async () => {
    const issued = await fx.mint({});
    expect((await revoke({ token: issued.token, token_type_hint: "refresh_token" })).status).toBe(200);
    expect((await introspect(issued.token)).body.active).toBe(false);
    const other = await fx.mint({});
    expect((await revoke({ token: other.token, token_type_hint: "urn:example:whatever" })).status).toBe(200);
    expect((await introspect(other.token)).body.active).toBe(false);
  });

  it("revoking an already revoked token keeps the first entry and its reason", async () => {
    const issued = await fx.mint({});
    await admin("POST", "/admin/revocations/tokens", { jti: issued.jti, reason: "incident 42" });
    expect((await revoke({ token: issued.token })).status).toBe(200);
    expect((await fx.store.list()).tokens).toEqual([expect.objectContaining({ jti: issued.jti, reason: "incident 42", actor: "bootstrap-admin" })]);
  });

  it("400 without token, 415 for another content type", async () => {
    expectRefusal(await readAnswer(await revoke({})), { status: 400, error: "invalid_request" });
    expectRefusal(await readAnswer(await fx.app.request("/revoke", jsonRequest("POST", { token: "x" }))), { status: 415, error: "invalid_request" });
  });

  it("503 with Retry-After when the store is down (§2.2.1: retry)", async () => {
    const issued = await fx.mint({});
    fx.store.down = true;
    const res = await revoke({ token: issued.token });
    expectRefusal(await readAnswer(res), { status: 503, error: "temporarily_unavailable" });
    expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
    fx.store.down = false;
    expect((await introspect(issued.token)).body.active).toBe(true);
  });
});

describe("admin API", () => {
  it("revokes a workload with block until a time; the listing shows both; unblock 204 then 404; revoked stays revoked", async () => {
    const issued = await fx.mint({ subject: "github/987/123" });
    const res = await admin("POST", "/admin/revocations/workloads", {
      workload_id: "github/987/123",
      reason: "repository compromised",
      block: true,
      block_until: "2027-01-16T00:00:00Z",
    });
    expect(res.status).toBe(201);
    const created = (await res.json()) as Record<string, unknown>;
    expect(created).toEqual({
      revocation: { workload_id: "github/987/123", revoked_at: NOW, expires_at: NOW + MAX_LIFETIME, actor: "bootstrap-admin", reason: "repository compromised", recorded_at: NOW },
      block: { workload_id: "github/987/123", until: Date.parse("2027-01-16T00:00:00Z") / 1000, actor: "bootstrap-admin", reason: "repository compromised", recorded_at: NOW },
    });
    expect(await fx.store.activeBlock("github/987/123")).toBeDefined();

    const listing = (await (await admin("GET", "/admin/revocations")).json()) as Record<string, unknown[]>;
    expect(listing.workloads).toHaveLength(1);
    expect(listing.blocks).toHaveLength(1);
    expect(listing.tokens).toEqual([]);

    const path = `/admin/blocks/${encodeURIComponent("github/987/123")}`;
    const lifted = await admin("DELETE", path);
    expect(lifted.status).toBe(204);
    expect(await lifted.text()).toBe("");
    expect(await fx.store.activeBlock("github/987/123")).toBeUndefined();
    const again = await admin("DELETE", path);
    const refused = await readAnswer(again);
    expectRefusal(refused, { status: 404, error: "not_found", description: "this workload is not blocked" });
    expect(refused.json).toEqual({ error: "not_found", error_description: "this workload is not blocked" });
    expect((await introspect(issued.token)).body).toEqual({ active: false });
  });

  it("a block without an end lasts until lifted; block_until accepts epoch seconds", async () => {
    await admin("POST", "/admin/revocations/workloads", { workload_id: "w/forever", reason: "r", block: true });
    expect((await fx.store.activeBlock("w/forever"))?.until).toBeUndefined();
    await admin("POST", "/admin/revocations/workloads", { workload_id: "w/epoch", reason: "r", block: true, block_until: NOW + 60 });
    expect((await fx.store.activeBlock("w/epoch"))?.until).toBe(NOW + 60);
    fx.clock.advance(61_000);
    expect(await fx.store.activeBlock("w/epoch")).toBeUndefined();
  });

  it("revokes a jti until now + the lifetime cap by default, or until expires_at", async () => {
    const byDefault = (await (await admin("POST", "/admin/revocations/tokens", { jti: "j1", reason: "r" })).json()) as Record<string, unknown>;
    expect(byDefault).toEqual({ jti: "j1", expires_at: NOW + MAX_LIFETIME, actor: "bootstrap-admin", reason: "r", recorded_at: NOW });
    const explicit = (await (await admin("POST", "/admin/revocations/tokens", { jti: "j2", reason: "r", expires_at: NOW + 120 })).json()) as Record<string, unknown>;
    expect(explicit.expires_at).toBe(NOW + 120);
  });

  it("refuses bad bodies with invalid_request, listing the fields", async () => {
    const cases: unknown[] = [
      { jti: "j", reason: "r", expires_at: NOW - 1 },
      { jti: "", reason: "r" },
      { jti: "j" },
      { jti: "j", reason: "r", extra: "<script>" },
      { jti: "j", reason: "line\nbreak" },
    ];
    for (const body of cases) {
      const res = await readAnswer(await admin("POST", "/admin/revocations/tokens", body));
      expectRefusal(res, { status: 400, error: "invalid_request" });
      expect(res.json.error_description).not.toContain("<script>");
    }
    const workloadCases: unknown[] = [
      { workload_id: "w", reason: "r", block_until: NOW + 60 },
      { workload_id: "w", reason: "r", block: true, block_until: NOW - 60 },
      { workload_id: "w", reason: "r", block: true, block_until: "tomorrow" },
      { workload_id: "w", reason: "r", block: "yes" },
    ];
    for (const body of workloadCases) expectRefusal(await readAnswer(await admin("POST", "/admin/revocations/workloads", body)), { status: 400, error: "invalid_request" });
    expect((await fx.store.list()).workloads).toEqual([]);
    const notJson = await fx.app.request("/admin/revocations/tokens", { method: "POST", headers: { authorization: bearer(ADMIN_SECRET), "content-type": "application/json" }, body: "{" });
    expectRefusal(await readAnswer(notJson), { status: 400, error: "invalid_request" });
    const form = await fx.app.request("/admin/revocations/tokens", formRequest({ jti: "j", reason: "r" }, bearer(ADMIN_SECRET)));
    expectRefusal(await readAnswer(form), { status: 415, error: "invalid_request" });
  });

  it("records every call with the operator's identity and reason: the admin token's sub, or bootstrap-admin", async () => {
    const operator = await fx.mint({ subject: "operator/alice", scopes: [ADMIN_SCOPE] });
    const res = await fx.app.request(
      "/admin/revocations/workloads",
      jsonRequest("POST", { workload_id: "w/1", reason: "ticket SEC-9" }, bearer(operator.token)),
    );
    expect(res.status).toBe(201);
    expect(((await res.json()) as { revocation: { actor: string } }).revocation.actor).toBe("operator/alice");
    await admin("GET", "/admin/revocations");
    expect(fx.audit).toEqual([
      expect.objectContaining({ event: "admin", action: "revoke_workload", actor: "operator/alice", target: "w/1", reason: "ticket SEC-9", outcome: "done" }),
      expect.objectContaining({ event: "admin", action: "list_revocations", actor: "bootstrap-admin", outcome: "done" }),
    ]);
    const text = JSON.stringify(fx.audit);
    expect(text).not.toContain(operator.token);
    expect(text).not.toContain(ADMIN_SECRET);
  });

  it("audits a failed call and answers 503 when the store is down", async () => {
    fx.store.down = true;
    const res = await admin("POST", "/admin/revocations/tokens", { jti: "j", reason: "r" });
    fx.store.down = false;
    expectRefusal(await readAnswer(res), { status: 503, error: "temporarily_unavailable" });
    expect(fx.audit).toContainEqual(expect.objectContaining({ action: "revoke_token", outcome: "failed", error: "temporarily_unavailable" }));
  });

  it("publishes the endpoints in RFC 8414 metadata", async () => {
    const metadata = (await (await fx.app.request("/.well-known/oauth-authorization-server")).json()) as Record<string, unknown>;
    expect(metadata).toMatchObject({
      introspection_endpoint: `${ISSUER}/introspect`,
      introspection_endpoint_auth_methods_supported: ["Bearer", "DPoP"],
      revocation_endpoint: `${ISSUER}/revoke`,
      revocation_endpoint_auth_methods_supported: ["none"],
    });
  });
});
