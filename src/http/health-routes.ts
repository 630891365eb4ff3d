import type { Hono } from "hono";
import type { AppEnv } from "./app-env.js";

export interface ReadinessResult {
  readonly ok: boolean;
  readonly detail?: string;
}

/** One named readiness check; a failing check makes /readyz answer 503. */
export interface ReadinessCheck {
  readonly name: string;
  check(): ReadinessResult | Promise<ReadinessResult>;
}

/** /healthz: the process answers. /readyz: keys loaded, policies valid, dependencies reachable. */
export function healthRoutes(app: Hono<AppEnv>, deps: { readiness: readonly ReadinessCheck[] }): void {
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    const results = await Promise.all(deps.readiness.map(async (probe) => [probe.name, await probe.check()] as const));
    const checks = Object.fromEntries(results);
    const ready = Object.values(checks).every((result) => result.ok);
    c.header("Cache-Control", "no-store");
    return c.json({ status: ready ? "ready" : "not ready", checks }, ready ? 200 : 503);
  });
}
