import type { Hono, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { BrokerMetrics } from "../metrics/broker-metrics.js";
import type { AppEnv } from "./app-env.js";

/** The status label of each status class, made once rather than per request. */
const STATUS_CLASSES = ["0xx", "1xx", "2xx", "3xx", "4xx", "5xx"];

/**
 * Observes each request's latency under its route pattern (never the raw path: ids in paths
 * would make the label set unbounded). Timed with performance.now and observed directly:
 * prom-client's startTimer makes two closures, two hrtime arrays and a merged label object per
 * request.
 */
export function httpMetrics(metrics: BrokerMetrics): MiddlewareHandler<AppEnv> {
  return async function httpMetricsMiddleware(c, next) {
    const started = performance.now();
    try {
      await next();
    } finally {
      const route = matchedRoutes(c).filter((matched) => matched.method !== "ALL").at(-1)?.path ?? "unmatched";
      const status = STATUS_CLASSES[Math.floor(c.res.status / 100)] ?? `${Math.floor(c.res.status / 100)}xx`;
      metrics.httpDuration.observe({ route, method: c.req.method, status }, (performance.now() - started) / 1000);
    }
  };
}

/**
 * GET /metrics: the Prometheus text exposition (with several workers, the whole group's).
 * Restrict it at the network edge in production. A group scrape that cannot be completed (a worker
 * did not answer) is a 503, never a partial sum: summed counters would seem to go down.
 */
export function metricsRoutes(app: Hono<AppEnv>, deps: { metrics: BrokerMetrics }): void {
  app.get("/metrics", async (c) => {
    c.header("Cache-Control", "no-store");
    let scrape: Awaited<ReturnType<BrokerMetrics["scrape"]>>;
    try {
      scrape = await deps.metrics.scrape();
    } catch (error) {
      return c.text(`metrics unavailable: ${error instanceof Error ? error.message : String(error)}\n`, 503);
    }
    return c.body(scrape.body, 200, { "Content-Type": scrape.contentType });
  });
}
