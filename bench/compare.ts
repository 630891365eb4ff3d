/**
 * Issue 14's comparison: scenarios on servers that are all up at once, run in alternation for a
 * number of rounds (so a slow minute on this shared machine falls on every server alike), each
 * figure the median of its rounds. Also the p99 at half load and the RSS soak.
 */
import { CONNECTIONS, DURATION, load, rssMb, type BodyPool, type LoadOptions, type Result, type Server } from "./processes.js";

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
  /** Requests of cold scenarios the verified-token cache answered (a valid run has none). */
  readonly cacheHits: number;
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
  };
}

/** The broker's count of verified-token cache hits, from its /metrics. */
export async function cacheHits(server: Server): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith('broker_verified_token_cache_lookups_total{result="hit"}'));
  return line === undefined ? 0 : Number(line.split(" ").at(-1));
}

export async function compareInRounds(work: string, rounds: number, scenarios: readonly Scenario[]): Promise<Comparison> {
  // Each server's first scenario gets an unmeasured warm-up (JIT, caches, connections).
  const warmed = new Set<Server>();
  const all: Result[][] = [];
  let hits = 0;
  for (let round = 1; round <= rounds; round++) {
    const results: Result[] = [];
    for (const s of scenarios) {
      const warmUp = !warmed.has(s.server);
      warmed.add(s.server);
      const before = s.cold ? await cacheHits(s.server) : 0;
      const result = await load(work, s.scenario, s.server, s.path, { ...s.options, warmUp, label: `c=${s.options.connections ?? CONNECTIONS}, round ${round}` });
      if (s.cold) hits += (await cacheHits(s.server)) - before;
      console.log(`  ${result.scenario}: ${result.requestsPerSecond} req/s, ${result.cpuMicrosPerRequest} µs CPU/req, p99 ${result.latencyMs.p99} ms`);
      results.push(result);
    }
    all.push(results);
  }
  const medians: Record<string, Result> = {};
  scenarios.forEach((s, index) => {
    medians[s.key] = medianOf(
      all.map((results) => results[index] as Result),
      s.scenario,
    );
  });
  return { medians, rounds: all, cacheHits: hits };
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
