/**
 * The bench's process and load plumbing: start a server process and wait for /healthz, drive it
 * with autocannon in its own process (bench/drive.ts), and read its CPU time and RSS from /proc.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { open, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { freePort } from "../test/support/broker-process.js";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** Seconds per measured scenario (BENCH_DURATION, default 10). */
export const DURATION = Number(process.env.BENCH_DURATION ?? 10);
/** Closed-loop connections (BENCH_CONNECTIONS, default 50). */
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
export const run = promisify(execFile);
/** The broker as the image runs it (Dockerfile CMD, npm run start:prod). */
export const BROKER_ARGS = ["--max-semi-space-size=8", "--no-maglev", "--no-allocation-site-pretenuring", "dist/main.js"];

/**
 * Deletes a tool's working directory once its run is done: the brokers' logs there (an audit line
 * per request) grow to gigabytes per run, and a few runs filled this machine's disk. Kept, and
 * named, when the run was invalid (its logs say why) or with BENCH_KEEP_WORK=1.
 */
export async function releaseWork(work: string, valid: boolean): Promise<void> {
  if (!valid || process.env.BENCH_KEEP_WORK === "1") {
    console.log(`server logs: ${work}`);
    return;
  }
  await rm(work, { recursive: true, force: true });
}

export interface Result {
  scenario: string;
  requestsPerSecond: number;
  requests: number;
  latencyMs: { p50: number; p99: number; max: number };
  errors: number;
  non2xx: number;
  cpuMicrosPerRequest: number;
  peakRssMb: number;
  /** The load generator's own CPU per request (bench/drive.ts). */
  driverCpuMicrosPerRequest: number;
  /** The whole machine's busy CPU per request in the same window: server, load generator, Redis, the rest. */
  machineCpuMicrosPerRequest: number;
  /** Busy share of all cores in that window (1: every core saturated). */
  machineBusyShare: number;
}

export interface Server {
  child: ChildProcess;
  port: number;
}

/** Request bodies used in turn across runs (see LoadOptions.pool). */
export interface BodyPool {
  readonly bodies: readonly string[];
  next: number;
}

export function bodyPool(bodies: readonly string[]): BodyPool {
  return { bodies, next: 0 };
}

/**
 * Ports fetch() refuses to connect to (the Fetch standard's "bad ports" above 1024): a server on
 * one could never be probed or driven by the bench.
 */
const FETCH_BAD_PORTS: ReadonlySet<number> = new Set([1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080]);

/** A free loopback port that fetch() will connect to. */
export async function benchPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (!FETCH_BAD_PORTS.has(port)) return port;
  }
}

export interface LoadOptions {
  readonly bodies?: readonly string[];
  /**
   * Bodies that must each be sent once (distinct subject tokens): every run, warm-up included,
   * starts where the last one using this pool stopped, and moves it on.
   */
  readonly pool?: BodyPool;
  readonly headers?: Readonly<Record<string, string>>;
  readonly connections?: number;
  readonly durationSeconds?: number;
  readonly overallRate?: number;
  readonly label?: string;
  /** Run 3 s of unmeasured load first. */
  readonly warmUp?: boolean;
}

/** Starts `node <args>` (this process's node, or `node` when given) and waits for its /healthz. */
export async function startProcess(args: string[], env: Record<string, string>, logFile: string, node = process.execPath): Promise<Server> {
  const port = Number(env.BROKER_PORT ?? (await benchPort()));
  // Logs go to a file, as a collector would take them, not through a pipe this process must drain.
  const log = await open(logFile, "a");
  const child = spawn(node, args.map((arg) => arg.replace("$PORT", String(port))), {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", ...env, BROKER_PORT: String(port) },
    stdio: ["ignore", log.fd, log.fd],
  });
  await log.close();
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}; see ${logFile}`);
    if (Date.now() > deadline) throw new Error(`server did not answer /healthz within 30 s; see ${logFile}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { child, port };
}

export async function stopProcess(server: Server): Promise<void> {
  if (server.child.exitCode !== null) return;
  const exited = new Promise((resolve) => server.child.once("exit", resolve));
  server.child.kill("SIGTERM");
  await exited;
}

/**
 * CPU time of a server, in microseconds (Linux /proc; USER_HZ is 100): utime + stime of the process
 * and of every descendant (a BROKER_WORKERS primary's workers), plus cutime + cstime (children
 * already exited and reaped, e.g. a replaced worker). A single process has no children: its own.
 */
export async function cpuMicros(pid: number): Promise<number> {
  let ticks = 0;
  for (const each of await processTree(pid)) {
    const fields = (await readFile(`/proc/${each}/stat`, "utf8").catch(() => "")).split(") ")[1]?.split(" ") ?? [];
    ticks += [11, 12, 13, 14].reduce((sum, index) => sum + (Number(fields[index]) || 0), 0);
  }
  return (ticks * 1_000_000) / 100;
}

/** A process and its descendants, from /proc's children lists. */
async function processTree(pid: number): Promise<number[]> {
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, "utf8").then(
    (text) => text.split(/\s+/).filter((each) => each !== "").map(Number),
    () => [],
  );
  return [pid, ...(await Promise.all(children.map(processTree))).flat()];
}

/** RSS of a server, summed over the process and its descendants (a worker group: the sum of each one's). */
export async function rssMb(pid: number, field: "VmHWM" | "VmRSS"): Promise<number> {
  let kb = 0;
  for (const each of await processTree(pid)) {
    const status = await readFile(`/proc/${each}/status`, "utf8").catch(() => "");
    kb += Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  }
  return Math.round(kb / 102.4) / 10;
}

export async function load(work: string, scenario: string, server: Server, path: string, options: LoadOptions = {}): Promise<Result> {
  const pid = server.child.pid ?? 0;
  const connections = options.connections ?? CONNECTIONS;
  const bodies = options.pool?.bodies ?? options.bodies;
  const spec = {
    url: `http://127.0.0.1:${server.port}${path}`,
    connections,
    durationSeconds: options.durationSeconds ?? DURATION,
    ...(options.overallRate ? { overallRate: options.overallRate } : {}),
    method: bodies ? "POST" : "GET",
    headers: { ...(bodies ? { "content-type": "application/x-www-form-urlencoded" } : {}), ...options.headers },
    bodies: bodies ?? [],
  };
  const specFile = join(work, `drive-${randomBytes(4).toString("hex")}.json`);
  if (options.warmUp) {
    // Unmeasured: let the JIT and caches settle, so the first scenario of a process is not penalised.
    await drive(`${specFile}.warm`, { ...spec, durationSeconds: 3, connections: 10 }, options.pool);
  }
  const before = await cpuMicros(pid);
  const report = await drive(specFile, spec, options.pool);
  const after = await cpuMicros(pid);
  return {
    scenario: `${scenario} ${options.label ?? `c=${connections}`}`,
    requestsPerSecond: Math.round(report.requests.average),
    requests: report.requests.total,
    latencyMs: { p50: report.latency.p50, p99: report.latency.p99, max: report.latency.max },
    errors: report.errors,
    non2xx: report.non2xx,
    cpuMicrosPerRequest: Math.round((after - before) / Math.max(1, report.requests.total)),
    peakRssMb: await rssMb(pid, "VmHWM"),
    driverCpuMicrosPerRequest: Math.round(report.driverCpuMicros / Math.max(1, report.requests.total)),
    machineCpuMicrosPerRequest: Math.round(report.machine.busyMicros / Math.max(1, report.requests.total)),
    machineBusyShare: Math.round((report.machine.busyMicros / Math.max(1, report.machine.totalMicros)) * 100) / 100,
  };
}

interface DriveReport {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; max: number };
  errors: number;
  non2xx: number;
  driverCpuMicros: number;
  machine: { busyMicros: number; totalMicros: number };
}

/** One autocannon run in its own process (bench/drive.ts); a pool's bodies are taken from its cursor on. */
async function drive(specFile: string, spec: { readonly connections: number; readonly durationSeconds: number }, pool: BodyPool | undefined): Promise<DriveReport> {
  await writeFile(specFile, JSON.stringify({ ...spec, offset: pool?.next ?? 0 }));
  const { stdout } = await run(process.execPath, ["--import", "tsx", join(ROOT, "bench/drive.ts"), specFile], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
  const report = JSON.parse(stdout) as DriveReport;
  // Requests still in flight at the end took a body too: skip one per connection beyond the count.
  if (pool) pool.next += report.requests.total + report.errors + spec.connections;
  return report;
}
