import { setFlagsFromString } from "node:v8";
import { serve } from "@hono/node-server";
import type { Server } from "node:http";
import type { Logger } from "pino";
import type { Broker } from "./build-broker.js";
import { isClusterPrimary, superviseWorkers } from "./cluster-primary.js";
import { workerLogger, workerOpenOptions } from "./cluster-worker.js";
import { openBroker, refuseDevelopmentMaterial, StartupError } from "./open-adapters.js";
import { ConfigError, loadConfig, type Config } from "./config.js";
import type { FileKeyStore } from "./credentials/file-key-store.js";
import type { CaSource } from "./credentials/x509/ca-set.js";
import { gracefulClose, type DrainOutcome, type GracefulClose } from "./lib/graceful-close.js";
import { createLogger } from "./lib/logger.js";
import { PolicyLoadError, type PolicyStore } from "./policy/index.js";

/**
 * The process: config → logger → open the adapters (keys, issuers, policies, Redis, CA) →
 * buildBroker → listen; SIGHUP reloads, SIGTERM/SIGINT drain and close. With BROKER_WORKERS > 1
 * this process is the primary instead (cluster-primary.ts), and each worker it forks runs `run`
 * here, as one broker. Nothing imports this file.
 */
async function main(): Promise<void> {
  // Let the old generation grow to 1.5× the live heap between full collections instead of V8's
  // up to 4×: peak RSS under load ~180–210 → ~140 MB for ~2–3 % CPU (bench/README.md). V8 reads
  // the flag at every collection, so setting it here takes effect; one given to node wins.
  if (!process.execArgv.some((arg) => arg.startsWith("--heap-growing-percent"))) setFlagsFromString("--heap-growing-percent=50");
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
  const logger = workerLogger(createLogger({ level: config.logLevel, pretty: config.logPretty }));
  try {
    if (isClusterPrimary(config)) await superviseWorkers(config, logger);
    else await run(config, logger);
  } catch (error) {
    // Start-up problems are the operator's to fix: say what, without a stack for known kinds.
    const known = error instanceof ConfigError || error instanceof PolicyLoadError || error instanceof StartupError;
    logger.fatal(known ? { reason: (error as Error).message } : { err: error }, "broker failed to start");
    process.exit(1);
  }
}

async function run(config: Config, logger: Logger): Promise<void> {
  if (config.production) await refuseDevelopmentMaterial(config, logger);
  const closer = gracefulClose();
  const { broker, keys, verifier, policies, ca } = await openBroker(config, logger, { isDraining: () => closer.isDraining(), ...workerOpenOptions() });
  reloadOnHangup(policies, keys, ca);
  const server = listen(config, broker.app, logger, closer.ServerResponse, () => policies.current().policyIds.length);
  void verifier.warmUp();
  stopOnTerminate({ config, logger, drain: (graceMs) => closer.drain(server, graceMs), close: () => broker.close(), stopWatching: [policies, keys] });
}

/** SIGHUP: reload the policies, the signing keys and the CA set now, without waiting for a file event. */
function reloadOnHangup(policies: PolicyStore, keys: FileKeyStore, ca: CaSource | undefined): void {
  process.on("SIGHUP", () => {
    void policies.reload();
    void keys.reload();
    void ca?.reload?.();
  });
}

/**
 * Serves the app on BROKER_HOST:BROKER_PORT with the request bounds of the config; `responses` is
 * the response class (graceful-close.ts: answers written while draining close their connection).
 */
function listen(config: Config, app: Broker["app"], logger: Logger, responses: GracefulClose["ServerResponse"], policyCount: () => number): Server {
  const server = serve({
    fetch: app.fetch,
    hostname: config.host,
    port: config.port,
    serverOptions: {
      requestTimeout: config.requestTimeoutMs,
      headersTimeout: config.headersTimeoutMs,
      // Node enforces both timeouts only when it sweeps its connections, every 30 s by default:
      // a 5 s headers timeout could hold a slowloris socket for 35 s. Sweep every second.
      connectionsCheckingInterval: 1_000,
      maxHeaderSize: 16 * 1024,
      ServerResponse: responses,
    },
  }) as Server;
  server.keepAliveTimeout = 5_000;
  server.on("listening", () => {
    logger.info({ host: config.host, port: config.port, issuer: config.issuerUrl, policies: policyCount() }, "listening");
  });
  return server;
}

/**
 * SIGTERM, SIGINT: stop watching files, take no new connections, let in-flight requests finish
 * within the grace period, then close the broker (its stores) and exit.
 */
function stopOnTerminate(stop: {
  readonly config: Config;
  readonly logger: Logger;
  readonly drain: (graceMs: number) => Promise<DrainOutcome>;
  readonly close: () => Promise<void>;
  readonly stopWatching: readonly { close(): void }[];
}): void {
  const { config, logger } = stop;
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, graceMs: config.shutdownGraceMs }, "shutting down: no new connections, finishing in-flight requests");
    for (const watcher of stop.stopWatching) watcher.close();
    void stop.drain(config.shutdownGraceMs).then(async (outcome) => {
      if (outcome === "forced") logger.warn({ graceMs: config.shutdownGraceMs }, "shutdown grace period over: closing remaining connections");
      await stop.close().catch(() => undefined);
      logger.info({ outcome }, "stopped");
      logger.flush();
      process.exit(0);
    });
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
}

void main();
