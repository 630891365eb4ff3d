import type { Hono, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { BrokerMetrics } from "../metrics/broker-metrics.js";
import type { AppEnv } from "./app-env.js";

/**
 * Observes each request's latency under its route pattern (never the raw path: ids in paths
 * would make the label set unbounded).
 */
export function httpMetrics(metrics: BrokerMetrics): MiddlewareHandler<AppEnv> {
  return async function httpMetricsMiddleware(c, next) {
    const stop = metrics.httpDuration.startTimer();
    try {
      await next();
    } finally {
      const route = matchedRoutes(c).filter((matched) => matched.method !== "ALL").at(-1)?.path ?? "unmatched";
      stop({ route, method: c.req.method, status: `${Math.floor(c.res.status / 100)}xx` });
    }
  };
}

/** GET /metrics: the Prometheus text exposition. Restrict it at the network edge in production. */
export function metricsRoutes(app: Hono<AppEnv>, deps: { metrics: BrokerMetrics }): void {
  app.get("/metrics", async (c) => {
    const { body, contentType } = await deps.metrics.scrape();
    c.header("Cache-Control", "no-store");
    return c.body(body, 200, { "Content-Type": contentType });
  });
}
