import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { BrokerError } from "../../src/errors/broker-error.js";
import type { AppEnv } from "../../src/http/app-env.js";
import { errorResponse } from "../../src/http/error-response.js";
import { requestContext } from "../../src/http/request-context.js";
import { silentLog } from "../../src/lib/log.js";
import type { AuditEvent } from "../../src/audit/audit-event.js";
import { requestPairedAuditSink, type AccessFacts } from "../../src/audit/request-audits.js";

describe("X-Request-Id", () => {
  const app = new Hono<AppEnv>();
  app.use("*", requestContext({ log: silentLog }));
  app.get("/json", (c) => c.json({ ok: true }));
  app.get("/raw", () => new Response("raw"));
  app.get("/error", () => {
    throw new BrokerError("invalid_request", "bad");
  });
  app.onError((error, c) => errorResponse(c, error, silentLog));

  it.each(["/json", "/raw", "/error"])("is on every answer, errors and raw responses included (%s)", async (path) => {
    const res = await app.request(path, { headers: { "x-request-id": "req-123" } });
    expect(res.headers.get("x-request-id")).toBe("req-123");
  });

  it("replaces an unsafe caller id with a fresh one", async () => {
    const res = await app.request("/error", { headers: { "x-request-id": "<script>" } });
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("the request's audit pairing", () => {
  it("is closed even when finishing the answer fails, so no request id stays held (a later record of that id is written at once)", async () => {
    const written: { event: AuditEvent; access: AccessFacts | undefined }[] = [];
    const sink = requestPairedAuditSink((event, access) => written.push({ event, access }));
    const app = new Hono<AppEnv>();
    app.use("*", requestContext({ log: silentLog, audits: sink }));
    app.get("/immutable", () => {
      sink.record(revocation("req-immutable"));
      // Response.error()'s headers are immutable: adding X-Request-Id to it throws.
      return Response.error();
    });
    app.onError((error, c) => errorResponse(c, error, silentLog));
    const res = await app.request("/immutable", { headers: { "x-request-id": "req-immutable" } });
    expect(res.status).toBe(500);
    // The record made during the request went out, alone (there was no answer to describe).
    expect(written).toEqual([{ event: revocation("req-immutable"), access: undefined }]);
    sink.record(revocation("req-immutable", "j2"));
    expect(written).toHaveLength(2);
  });
});

function revocation(requestId: string, jti = "j1"): AuditEvent {
  return { event: "token_revocation", requestId, actor: "w", jti, exp: 1, tokenSha256: "00", outcome: "revoked", clientAddress: "10.0.0.1" };
}
