/**
 * The primary of several broker workers (BROKER_WORKERS > 1, node:cluster). It serves nothing
 * itself: it does once what must happen before any worker starts (production's refusal of
 * development material; a development start's generated material, so workers never race to
 * create it), forks the workers (each one a whole broker, as main.ts runs it, sharing the port),
 * replaces a worker that dies (with a backoff; a crash loop stops everything), forwards SIGHUP,
 * relays GET /metrics for the group (cluster-metrics.ts), and on SIGTERM/SIGINT has every worker
 * drain and close, then exits.
 */
import cluster, { type Worker } from "node:cluster";
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { relayScrapes } from "./cluster-metrics.js";
import type { Config } from "./config.js";
import { prepareDevelopmentMaterial, refuseDevelopmentMaterial } from "./development-start.js";
import { DEFAULT_RESTART_BUDGET, restartBudget } from "./lib/restart-budget.js";

/** Past the workers' grace period, how long they have to close their stores and exit before they are killed. */
const CLOSE_MARGIN_MS = 5_000;

/** True in the process that must supervise workers rather than serve: BROKER_WORKERS > 1, not itself a worker. */
export function isClusterPrimary(config: Config): boolean {
  return config.workers > 1 && cluster.isPrimary;
}

/** The primary's whole life: prepare once, fork, supervise. Throws only before any worker exists (start-up problems). */
export async function superviseWorkers(config: Config, logger: Logger): Promise<void> {
  if (config.production) await refuseDevelopmentMaterial(config, logger);
  await prepareDevelopmentMaterial(config, logger);
  // Structured clone on the channel: metric values such as NaN and ±Inf survive it, JSON would not.
  cluster.setupPrimary({ serialization: "advanced" });
  const log = logger.child({ pid: process.pid });
  new WorkerGroup(config, log, workerEnvironment(config, log)).start();
}

/**
 * What every worker gets besides the primary's environment: with BROKER_DPOP_NONCE=required and no
 * BROKER_DPOP_NONCE_SECRET, one secret made here, so that a nonce handed out by one worker holds
 * on the next (each would otherwise make its own).
 */
function workerEnvironment(config: Config, logger: Logger): Record<string, string> {
  if (config.dpop.nonce !== "required" || config.dpop.nonceSecret !== undefined) return {};
  logger.warn({}, "BROKER_DPOP_NONCE=required without BROKER_DPOP_NONCE_SECRET: the workers share a secret made at start, so DPoP nonces hold on this process's workers only; give every replica the same secret");
  return { BROKER_DPOP_NONCE_SECRET: randomBytes(32).toString("base64url") };
}

/** The workers of one primary: who is alive, who listens, and what happens when one exits. */
class WorkerGroup {
  private readonly live = new Map<number, Worker>();
  private readonly listening = new Map<number, Worker>();
  private readonly deaths = restartBudget();
  private readonly metrics = relayScrapes(() => [...this.listening.values()]);
  /** Set once every worker of the first start has listened: from then on a death is replaced. */
  private started = false;
  private stopping: { exitCode: number } | undefined;

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly env: Record<string, string>,
  ) {}

  start(): void {
    cluster.on("listening", (worker) => this.onListening(worker));
    cluster.on("exit", (worker, code, signal) => this.onExit(worker, code, signal));
    // Only to listening workers: one still starting has no handler yet (SIGHUP would kill it), and loads the files fresh anyway.
    process.on("SIGHUP", () => this.signalAll("SIGHUP", this.listening));
    process.once("SIGTERM", () => this.stop("SIGTERM", 0));
    process.once("SIGINT", () => this.stop("SIGINT", 0));
    this.logger.info({ workers: this.config.workers }, "starting workers");
    for (let i = 0; i < this.config.workers; i += 1) this.fork();
  }

  private fork(): void {
    const worker = cluster.fork(this.env);
    this.live.set(worker.id, worker);
  }

  private onListening(worker: Worker): void {
    this.listening.set(worker.id, worker);
    if (this.started || this.listening.size < this.config.workers) return;
    this.started = true;
    const pids = [...this.listening.values()].map((each) => each.process.pid);
    this.logger.info({ workers: this.listening.size, pids, host: this.config.host, port: this.config.port }, "all workers listening");
  }

  private onExit(worker: Worker, code: number | null, signal: string | null): void {
    this.live.delete(worker.id);
    this.listening.delete(worker.id);
    this.metrics.workerGone(worker);
    const facts = { worker: worker.id, workerPid: worker.process.pid, code, signal };
    if (this.stopping) {
      // SIGTERM's own death is a stop too: a worker still starting has no handler for it yet.
      if (code !== 0 && signal !== "SIGTERM") this.stopping.exitCode = 1;
      if (this.live.size === 0) this.exit();
      return;
    }
    // Before every worker has listened once, a death is a start that failed (its own lines say why).
    if (!this.started) {
      this.logger.fatal(facts, "a worker failed to start: stopping the others");
      return this.stop("start failed", 1);
    }
    const decision = this.deaths.recordDeath(Date.now());
    if ("crashLoop" in decision) {
      this.logger.fatal({ ...facts, deaths: decision.crashLoop, windowSeconds: DEFAULT_RESTART_BUDGET.windowMs / 1000 }, "workers are crash-looping: giving up");
      return this.stop("crash loop", 1);
    }
    this.logger.error({ ...facts, replaceAfterMs: decision.replaceAfterMs }, "worker exited unexpectedly: replacing it");
    setTimeout(() => {
      if (!this.stopping) this.fork();
    }, decision.replaceAfterMs);
  }

  /** Every worker drains and closes as a single broker does on SIGTERM; past the bound, the rest are killed. */
  private stop(reason: string, exitCode: number): void {
    if (this.stopping) return;
    this.stopping = { exitCode };
    const boundMs = this.config.shutdownGraceMs + CLOSE_MARGIN_MS;
    this.logger.info({ reason, workers: this.live.size, graceMs: this.config.shutdownGraceMs }, "shutting down: every worker drains and closes");
    if (this.live.size === 0) return this.exit();
    this.signalAll("SIGTERM", this.live);
    setTimeout(() => {
      this.logger.error({ workers: [...this.live.keys()], boundMs }, "workers did not stop within the bound: killing them");
      for (const worker of this.live.values()) worker.process.kill("SIGKILL");
      if (this.stopping) this.stopping.exitCode = 1;
    }, boundMs).unref();
  }

  private signalAll(signal: NodeJS.Signals, workers: ReadonlyMap<number, Worker>): void {
    for (const worker of workers.values()) worker.process.kill(signal);
  }

  private exit(): void {
    const exitCode = this.stopping?.exitCode ?? 1;
    this.logger.info({ exitCode }, "stopped");
    this.logger.flush();
    process.exit(exitCode);
  }
}
