/**
 * What a broker process does differently when it is one of several workers (BROKER_WORKERS > 1):
 * its log lines name it, and GET /metrics answers for the whole group (cluster-metrics.ts).
 * Everything else (open the adapters, listen, reload on SIGHUP, drain on SIGTERM) is main.ts's,
 * as in a single process.
 */
import cluster from "node:cluster";
import type { Logger } from "pino";
import { workerMetrics } from "./cluster-metrics.js";
import { packageVersion } from "./lib/package-version.js";
import type { OpenOptions } from "./open-adapters.js";

/**
 * The logger with the worker's id and pid in every line (bound once: pino serializes a child's
 * bindings when it is made, so this costs nothing per line). A single process logs as before.
 */
export function workerLogger(logger: Logger): Logger {
  return cluster.worker === undefined ? logger : logger.child({ worker: cluster.worker.id, pid: process.pid });
}

/** In a worker, metrics whose scrape is the group's; in a single process, nothing changes. */
export function workerOpenOptions(): Pick<OpenOptions, "metrics"> {
  return cluster.worker === undefined ? {} : { metrics: workerMetrics(packageVersion()) };
}
