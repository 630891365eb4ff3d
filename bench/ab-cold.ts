/**
 * `npx tsx bench/ab-cold.ts`: this build's broker against another build's (BENCH_BASELINE, a
 * built checkout with its node_modules; BENCH_BASELINE_ENV, JSON, adds to its environment) on the
 * cold exchange only, in many short alternating runs: on a machine shared with other work, load
 * shifts within seconds, so `npm run bench`'s two long rounds can put a busy minute on one side.
 * Each round runs both brokers back to back (the order swapped every round) and the figure is
 * the median of the rounds' CPU ratios. Each run also reports the broker's GC time per request and
 * major (mark-compact) collections per 10,000 requests, from its own /metrics.
 *
 * Both brokers as deployed (Redis, both rate limits on with budgets no load reaches), production
 * material made as in `npm run bench`, every request a new subject token (the bench's pool: each
 * token is sent once, to one broker), checked to have missed the verified-token cache.
 *
 * Env: BENCH_BASELINE (required), BENCH_BASELINE_ENV, BENCH_BASELINE_NODE_FLAGS (the baseline
 * broker's node flags instead of the shipped ones, e.g. "--max-semi-space-size=16"),
 * BENCH_BASELINE_NODE (another node binary for the baseline broker, e.g. the shipped image's
 * Node 24 against the machine's: BENCH_BASELINE may then be this checkout), BENCH_AB_ROUNDS (default 12),
 * BENCH_DURATION (s per run, default 2), BENCH_CONNECTIONS (default 50), BENCH_AB_ALG (ES256, the
 * default, or RS256), BENCH_AB_SCENARIO (cold, the default, or svid: `npm run bench`'s X.509-SVID
 * scenario instead, one subject token and one P-256 CSR repeated, so its cache hits are expected).
 */
import { join } from "node:path";
import { cacheHits } from "./compare.js";
import { benchPort, bodyPool, BROKER_ARGS, load, releaseWork, startProcess, stopProcess, type Result, type Server } from "./processes.js";
import { prepareColdBench } from "./cold-bench.js";

const BASELINE = process.env.BENCH_BASELINE;
const BASELINE_ENV = JSON.parse(process.env.BENCH_BASELINE_ENV ?? "{}") as Record<string, string>;
const BASELINE_NODE_FLAGS = (process.env.BENCH_BASELINE_NODE_FLAGS ?? BROKER_ARGS.slice(0, -1).join(" ")).split(" ").filter((flag) => flag !== "");
const BASELINE_NODE = process.env.BENCH_BASELINE_NODE;
const ROUNDS = Number(process.env.BENCH_AB_ROUNDS ?? 12);
const SECONDS = Number(process.env.BENCH_DURATION ?? 2);
const ALG = process.env.BENCH_AB_ALG === "RS256" ? "RS256" : "ES256";
const SVID = process.env.BENCH_AB_SCENARIO === "svid";

async function main(): Promise<void> {
  if (BASELINE === undefined) throw new Error("BENCH_BASELINE=<a built checkout> is required");
  // Enough that no token comes back: up to 5,000 exchanges a second per run, and two warm-ups.
  const cold = await prepareColdBench("broker-ab-", ALG, SVID ? 1 : ROUNDS * 2 * SECONDS * 5_000 + 30_000);
  const { work, env, redis } = cold;
  const [path, pool] = SVID ? ["/svid/x509", bodyPool([cold.svidBody])] : ["/token", cold.pool];
  const self = await startProcess(BROKER_ARGS, { ...env, BROKER_PORT: String(await benchPort()) }, join(work, "broker-self.log"));
  const other = await startProcess([...BASELINE_NODE_FLAGS, join(BASELINE, "dist/main.js")], { ...env, ...BASELINE_ENV, BROKER_PORT: String(await benchPort()) }, join(work, "broker-baseline.log"), BASELINE_NODE);
  // Logs are kept when the run failed or threw (releaseWork).
  let finished = false;
  try {
    const runOne = async (server: Server, name: string, warmUp = false): Promise<Measured> => {
      const before = await gcStats(server);
      const result = await load(work, name, server, path, { pool, durationSeconds: SECONDS, warmUp });
      const after = await gcStats(server);
      const requests = Math.max(1, result.requests);
      return Object.assign(result, {
        gcMicrosPerRequest: Math.round(((after.seconds - before.seconds) * 1e6) / requests),
        majorGcsPer10k: Math.round(((after.majors - before.majors) * 10_000) / requests),
      });
    };
    await runOne(self, "warm-up", true);
    await runOne(other, "warm-up", true);
    const hitsBefore = (await cacheHits(self)) + (await cacheHits(other));
    const rows: { round: number; self: Measured; baseline: Measured }[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const first = round % 2 === 1 ? "self" : "baseline";
      const a = await runOne(first === "self" ? self : other, first);
      const b = await runOne(first === "self" ? other : self, first === "self" ? "baseline" : "self");
      const [mine, theirs] = first === "self" ? [a, b] : [b, a];
      rows.push({ round, self: mine, baseline: theirs });
      console.log(
        `round ${round} (${first} first): this build ${describe(mine)}; baseline ${describe(theirs)}; CPU ratio ${(mine.cpuMicrosPerRequest / theirs.cpuMicrosPerRequest).toFixed(3)}`,
      );
    }
    // The SVID scenario repeats its one subject token: its hits are by design, not a fault of the run.
    const hits = SVID ? 0 : (await cacheHits(self)) + (await cacheHits(other)) - hitsBefore;
    const failures = rows.reduce((sum, row) => sum + row.self.errors + row.self.non2xx + row.baseline.errors + row.baseline.non2xx, 0);
    console.log(
      JSON.stringify(
        {
          scenario: SVID ? "svid" : "cold",
          alg: ALG,
          rounds: ROUNDS,
          secondsPerRun: SECONDS,
          baseline: BASELINE,
          baselineEnv: BASELINE_ENV,
          baselineNodeFlags: BASELINE_NODE_FLAGS,
          baselineNode: BASELINE_NODE ?? process.execPath,
          thisBuildNode: process.execPath,
          medianCpuMicrosThisBuild: median(rows.map((row) => row.self.cpuMicrosPerRequest)),
          medianCpuMicrosBaseline: median(rows.map((row) => row.baseline.cpuMicrosPerRequest)),
          medianCpuRatio: Number(median(rows.map((row) => row.self.cpuMicrosPerRequest / row.baseline.cpuMicrosPerRequest)).toFixed(3)),
          medianGcMicrosThisBuild: median(rows.map((row) => row.self.gcMicrosPerRequest)),
          medianGcMicrosBaseline: median(rows.map((row) => row.baseline.gcMicrosPerRequest)),
          majorGcsPer10kThisBuild: median(rows.map((row) => row.self.majorGcsPer10k)),
          majorGcsPer10kBaseline: median(rows.map((row) => row.baseline.majorGcsPer10k)),
          peakRssMbThisBuild: Math.max(...rows.map((row) => row.self.peakRssMb)),
          peakRssMbBaseline: Math.max(...rows.map((row) => row.baseline.peakRssMb)),
          medianRpsRatio: Number(median(rows.map((row) => row.self.requestsPerSecond / row.baseline.requestsPerSecond)).toFixed(3)),
          cacheHits: hits,
          errorsAndNon2xx: failures,
        },
        null,
        2,
      ),
    );
    if (hits > 0 || failures > 0) {
      console.error(`INVALID RUN: ${hits} cache hits, ${failures} errors or non-2xx`);
      process.exitCode = 1;
    }
    finished = true;
  } finally {
    await stopProcess(self);
    await stopProcess(other);
    await redis.stop();
    await releaseWork(work, finished && process.exitCode === undefined);
  }
}

/** A run's result with the broker's own GC figures (prom-client's nodejs_gc_duration_seconds, from /metrics). */
type Measured = Result & { gcMicrosPerRequest: number; majorGcsPer10k: number };

function describe(result: Measured): string {
  return `${result.cpuMicrosPerRequest} µs/req (GC ${result.gcMicrosPerRequest} µs, ${result.majorGcsPer10k} major GCs per 10k) at ${result.requestsPerSecond} req/s, peak RSS ${result.peakRssMb} MB`;
}

/** Seconds spent in GC (every kind) and the count of major (mark-compact) collections so far. */
async function gcStats(server: Server): Promise<{ seconds: number; majors: number }> {
  const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
  let seconds = 0;
  let majors = 0;
  for (const line of text.split("\n")) {
    const match = /^broker_nodejs_gc_duration_seconds_(sum|count)\{kind="(\w+)"\} (\S+)$/.exec(line);
    if (match === null) continue;
    if (match[1] === "sum") seconds += Number(match[3]);
    else if (match[2] === "major") majors += Number(match[3]);
  }
  return { seconds, majors };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

await main();
