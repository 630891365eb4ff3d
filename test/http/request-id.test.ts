import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { BrokerError } from "../../src/errors/broker-error.js";
import type { AppEnv } from "../../src/http/app-env.js";
import { errorResponse } from "../../src/http/error-response.js";
import { requestContext } from "../../src/http/request-context.js";
import { silentLog } from "../../src/lib/log.js";

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
