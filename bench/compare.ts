/**
 * Issue 14's comparison: scenarios on servers that are all up at once, run in alternation for a
 * number of rounds (so a slow minute on this shared machine falls on every server alike), each
 * figure the median of its rounds. Also the p99 at half load and the RSS soak.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { benchPort, BROKER_ARGS, CONNECTIONS, DURATION, load, rssMb, startProcess, stopProcess, type BodyPool, type LoadOptions, type Result, type Server } from "./processes.js";

/** Workers of the BROKER_WORKERS broker run beside the single process (BENCH_WORKERS; 0 leaves it out). */
export const WORKERS = Number(process.env.BENCH_WORKERS ?? 2);

export interface Scenario {
  readonly key: string;
  readonly scenario: string;
  readonly server: Server;
  readonly path: string;
  readonly options: LoadOptions;
  /** Every request must miss the broker's verified-token cache: checked from its metric. */
  readonly cold?: boolean;
}

export interface Comparison {
  /** Each scenario's median over the rounds, by key. */
  readonly medians: Record<string, Result>;
  /** Every round's results, in the order they ran. */
  readonly rounds: Result[][];
  /** Requests of cold scenarios the verified-token cache answered (see COLD_HIT_SHARE_MAX). */
  readonly cacheHits: number;
  /** Tokens the cache took in during cold scenarios: by a doorkeeper fingerprint collision only. */
  readonly cacheAdmissions: number;
  /** Requests of cold scenarios, all rounds. */
  readonly coldRequests: number;
  /** The BROKER_WORKERS broker's req/s ratios, beside the single process's (empty without it). */
  readonly workerRatios: Record<string, number | undefined>;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : Math.round((((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2) * 100) / 100;
};

/** The median of each figure across runs of one scenario (errors and non-2xx: summed). */
function medianOf(runs: Result[], scenario: string): Result {
  const of = (pick: (r: Result) => number) => median(runs.map(pick));
  return {
    scenario: `${scenario} c=${CONNECTIONS} (median of ${runs.length})`,
    requestsPerSecond: Math.round(of((r) => r.requestsPerSecond)),
    requests: Math.round(of((r) => r.requests)),
    latencyMs: { p50: of((r) => r.latencyMs.p50), p99: of((r) => r.latencyMs.p99), max: of((r) => r.latencyMs.max) },
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
    non2xx: runs.reduce((sum, r) => sum + r.non2xx, 0),
    cpuMicrosPerRequest: Math.round(of((r) => r.cpuMicrosPerRequest)),
    peakRssMb: Math.max(...runs.map((r) => r.peakRssMb)),
    driverCpuMicrosPerRequest: Math.round(of((r) => r.driverCpuMicrosPerRequest)),
    machineCpuMicrosPerRequest: Math.round(of((r) => r.machineCpuMicrosPerRequest)),
    machineBusyShare: of((r) => r.machineBusyShare),
  };
}

/** The broker's count of verified-token cache hits, from its /metrics. */
export async function cacheHits(server: Server): Promise<number> {
  return (await cacheCounts(server)).hits;
}

/** The broker's verified-token cache hits and admissions so far, from its /metrics. */
async function cacheCounts(server: Server): Promise<{ hits: number; admissions: number }> {
  const lines = (await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text()).split("\n");
  const value = (prefix: string): number => {
    const line = lines.find((l) => l.startsWith(prefix));
    return line === undefined ? 0 : Number(line.split(" ").at(-1));
  };
  return { hits: value('broker_verified_token_cache_lookups_total{result="hit"}'), admissions: value("broker_verified_token_cache_admissions_total") };
}

/**
 * The share of a cold scenario's requests the cache may answer, and of its tokens the cache may
 * take in, in a valid run: one in 10,000 each. The pools cycle (an RS256 token costs ~1 ms to
 * mint); a token that comes back to a broker after more others than the doorkeeper remembers
 * (10,000 fingerprints) is not taken in for being seen twice. One can be taken in for a
 * fingerprint collision (30-bit fingerprints: about one fresh token in 100,000) and answered when
 * the pool brings it back within the cache's 60 s: a handful of requests in hundreds of
 * thousands, worth nothing in CPU per request. More than the bound means a pool comes back too
 * soon, and the run is invalid.
 */
export const COLD_HIT_SHARE_MAX = 1 / 10_000;

/**
 * Runs `scenarios` in alternating rounds: in the order given in odd rounds, in reverse in even
 * ones, so each scenario runs early in one round and late in the next, and a pair given side by
 * side (a baseline's scenario and this build's) runs A-then-B, then B-then-A. On this machine the
 * second of two back-to-back runs measured up to ~10–13 % dearer whichever server it was (bench/README,
 * seventh and eighth rounds); with an even number of rounds the median (their mean, for two)
 * cancels a steady position effect instead of charging it to one side. Given `workersSetup` (the
 * deployed broker's environment and a pool of cold ES256 bodies of its own), a broker with
 * BROKER_WORKERS=WORKERS on it runs the cold ES256 exchange in the same rounds.
 */
export async function compareInRounds(work: string, rounds: number, given: readonly Scenario[], workersSetup?: WorkersSetup): Promise<Comparison> {
  const workers = await workersScenario(work, given, workersSetup);
  const scenarios = workers === undefined ? given : [...given, workers];
  // Each server's first scenario gets an unmeasured warm-up (JIT, caches, connections).
  const warmed = new Set<Server>();
  const all: Result[][] = [];
  const cold = { hits: 0, admissions: 0, requests: 0 };
  for (let round = 1; round <= rounds; round++) {
    const results: Result[] = Array.from({ length: scenarios.length });
    const order = scenarios.map((_, index) => index);
    if (round % 2 === 0) order.reverse();
    for (const index of order) {
      const s = scenarios[index] as Scenario;
      const warmUp = !warmed.has(s.server);
      warmed.add(s.server);
      const before = s.cold ? await cacheCounts(s.server) : undefined;
      const result = await load(work, s.scenario, s.server, s.path, { ...s.options, warmUp, label: `c=${s.options.connections ?? CONNECTIONS}, round ${round}` });
      let cache = "";
      if (before !== undefined) {
        const after = await cacheCounts(s.server);
        cold.hits += after.hits - before.hits;
        cold.admissions += after.admissions - before.admissions;
        cold.requests += result.requests;
        cache = `, cache hits ${after.hits - before.hits}, admissions ${after.admissions - before.admissions}`;
      }
      console.log(
        `  ${result.scenario}: ${result.requestsPerSecond} req/s, ${result.cpuMicrosPerRequest} µs CPU/req, p99 ${result.latencyMs.p99} ms; load generator ${result.driverCpuMicrosPerRequest} µs/req, machine ${result.machineCpuMicrosPerRequest} µs/req, ${Math.round(result.machineBusyShare * 100)} % busy${cache}`,
      );
      results[index] = result;
    }
    // Kept in the order given, whatever order the round ran in.
    all.push(results);
  }
  const medians: Record<string, Result> = {};
  scenarios.forEach((s, index) => {
    medians[s.key] = medianOf(
      all.map((results) => results[index] as Result),
      s.scenario,
    );
  });
  if (workers !== undefined) await stopProcess(workers.server);
  return { medians, rounds: all, cacheHits: cold.hits, cacheAdmissions: cold.admissions, coldRequests: cold.requests, workerRatios: workerRatios(medians) };
}

/**
 * The BROKER_WORKERS broker's environment and its own pool of cold bodies. Its own, because it
 * runs nothing but the cold exchange: its doorkeeper (a ring of the last 10,000 tokens per worker)
 * is never flushed by another scenario's tokens, so on a pool shared with the other brokers a
 * round could reach tokens it saw at the end of the last round and admit them (seen 2026-12-05
 * 06:55: 1,310 admissions, the run reported invalid). On a pool of its own it meets a token again
 * only after the whole pool, more than its rings hold.
 */
export interface WorkersSetup {
  readonly env: Record<string, string>;
  readonly pool: BodyPool;
}

/** The cold ES256 exchange on a broker of WORKERS workers (same Redis and rate limits, a pool of its own); undefined: not asked for. */
async function workersScenario(work: string, scenarios: readonly Scenario[], setup: WorkersSetup | undefined): Promise<Scenario | undefined> {
  const single = scenarios.find((s) => s.key === "cold-es256");
  if (setup === undefined || single === undefined || WORKERS < 2) return undefined;
  const { env, pool } = setup;
  // A port of its own: the deployed broker's environment names that broker's port.
  const log = join(work, "broker-workers.log");
  const server = await startProcess(BROKER_ARGS, { ...env, BROKER_WORKERS: String(WORKERS), BROKER_PORT: String(await benchPort()) }, log);
  // /healthz answers once one worker listens: wait for all of them (and be sure it is this group that answered).
  for (const deadline = Date.now() + 30_000; !(await readFile(log, "utf8")).includes('"msg":"all workers listening"'); ) {
    if (server.child.exitCode !== null || Date.now() > deadline) throw new Error(`the BROKER_WORKERS broker did not start; see ${log}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { ...single, key: "workers-cold-es256", scenario: `broker, BROKER_WORKERS=${WORKERS}: cold exchange ES256 (redis, rate limits on)`, server, options: { ...single.options, pool } };
}

function workerRatios(medians: Record<string, Result>): Record<string, number | undefined> {
  const workers = medians["workers-cold-es256"];
  if (workers === undefined) return {};
  const ratio = (a?: Result, b?: Result) => (a && b ? Math.round((a.requestsPerSecond / b.requestsPerSecond) * 100) / 100 : undefined);
  const { naive, "oidc-provider": peer, "cold-es256": single } = medians;
  return {
    [`cold exchange ES256, ${WORKERS} workers / naive floor, req/s (one process: ${ratio(single, naive)})`]: ratio(workers, naive),
    [`cold exchange ES256, ${WORKERS} workers / oidc-provider, req/s (one process: ${ratio(single, peer)})`]: ratio(workers, peer),
    [`cold exchange ES256, ${WORKERS} workers / one process, req/s`]: ratio(workers, single),
    [`CPU µs per cold ES256 exchange, ${WORKERS} workers (primary and workers; one process: ${single?.cpuMicrosPerRequest})`]: workers.cpuMicrosPerRequest,
  };
}

/**
 * p99 at half of the maximum rate: the smallest closed-loop concurrency (1, 2, 4, …) whose rate
 * reaches `targetRps`. autocannon's own rate limit (`-R`) sends each connection's quota for a
 * second in one burst (lib/httpClient.js, reqsMadeThisSecond), which measures its bursts.
 */
export async function halfLoadP99(work: string, server: Server, pool: BodyPool, targetRps: number): Promise<Result> {
  let probe: Result | undefined;
  for (const connections of [1, 2, 4, 8, 16, 32]) {
    probe = await load(work, "broker: cold exchange ES256 (redis, rate limits on)", server, "/token", { pool, connections, durationSeconds: Math.min(DURATION, 5) });
    if (probe.requestsPerSecond >= targetRps) break;
  }
  if (probe === undefined) throw new Error("no probe ran");
  return { ...probe, scenario: `${probe.scenario} (≥ half of max: ${Math.round(targetRps)} req/s)` };
}

/** A long closed-loop run, sampling the server's RSS every 5 s (the growth check). */
export async function soak(work: string, server: Server, pool: BodyPool, seconds: number): Promise<{ result: Result; samplesMb: number[] }> {
  const pid = server.child.pid ?? 0;
  const samplesMb: number[] = [await rssMb(pid, "VmRSS")];
  const sampler = setInterval(() => void rssMb(pid, "VmRSS").then((mb) => samplesMb.push(mb)), 5_000);
  const result = await load(work, "broker: cold exchange ES256 (redis, rate limits on)", server, "/token", { pool, durationSeconds: seconds, label: `soak ${seconds} s` });
  clearInterval(sampler);
  samplesMb.push(await rssMb(pid, "VmRSS"));
  return { result, samplesMb };
}
