import type { Hono } from "hono";
import type { AppEnv } from "./app-env.js";

/** One named readiness check; a failing check makes /readyz answer 503. */
export interface ReadinessCheck {
  readonly name: string;
  check(): { ok: boolean; detail?: string };
}

/** /healthz: the process answers. /readyz: keys loaded, policies valid, dependencies reachable. */
export function healthRoutes(app: Hono<AppEnv>, deps: { readiness: readonly ReadinessCheck[] }): void {
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", (c) => {
    const checks = Object.fromEntries(deps.readiness.map((probe) => [probe.name, probe.check()]));
    const ready = Object.values(checks).every((result) => result.ok);
    c.header("Cache-Control", "no-store");
    return c.json({ status: ready ? "ready" : "not ready", checks }, ready ? 200 : 503);
  });
}
