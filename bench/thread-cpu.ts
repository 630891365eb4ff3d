/**
 * `npx tsx bench/thread-cpu.ts`: where a cold exchange's CPU goes by thread. The broker as
 * deployed (Redis, both rate limits on), a new ES256 subject token per request (BENCH_AB_ALG=RS256
 * for RS256); after a warm-up, the CPU of each of the broker's threads (/proc/<pid>/task/<tid>/stat,
 * grouped by the thread's name) is read before and after BENCH_DURATION seconds of load, and
 * printed in µs per request. The main thread is "main"; the others go by the name node gives them:
 * on Node 24 V8's GC and compiler helpers are "V8Worker" and libuv's pool "libuv-worker", while
 * Node 20 names every thread "node". BENCH_NODE_ARGS (space-separated) replaces the production
 * node flags (BROKER_ARGS: the image's), e.g. to see what a GC flag moves between threads.
 * BENCH_REPEAT=N measures N times on the same process, BENCH_GAP_SECONDS idle between them: how
 * a long-lived broker's cost moves, and whether an idle gap (as between `npm run bench`'s
 * alternating runs) changes the next window's.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { cacheHits } from "./compare.js";
import { benchPort, BROKER_ARGS, load, releaseWork, startProcess, stopProcess } from "./processes.js";
import { prepareColdBench } from "./cold-bench.js";

const SECONDS = Number(process.env.BENCH_DURATION ?? 8);
const ALG = process.env.BENCH_AB_ALG === "RS256" ? "RS256" : "ES256";
const REPEAT = Math.max(1, Number(process.env.BENCH_REPEAT ?? 1));
const GAP_SECONDS = Number(process.env.BENCH_GAP_SECONDS ?? 0);

async function threadTicks(pid: number): Promise<Map<string, number>> {
  const byName = new Map<string, number>();
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, "utf8").catch(() => "");
    const name = tid === String(pid) ? "main" : (/\((.*)\)/.exec(stat)?.[1] ?? "?");
    const fields = stat.split(") ")[1]?.split(" ") ?? [];
    const ticks = (Number(fields[11]) || 0) + (Number(fields[12]) || 0);
    byName.set(name, (byName.get(name) ?? 0) + ticks);
  }
  return byName;
}

async function main(): Promise<void> {
  const { work, env: deployed, pool, redis } = await prepareColdBench("broker-threads-", ALG, (SECONDS * REPEAT + 3) * 5_000 + 10_000);
  const env = { ...deployed, ...(JSON.parse(process.env.BENCH_ENV ?? "{}") as Record<string, string>) };
  const server = await startProcess(process.env.BENCH_NODE_ARGS === undefined ? BROKER_ARGS : [...process.env.BENCH_NODE_ARGS.split(" ").filter((flag) => flag !== ""), BROKER_ARGS.at(-1) ?? "dist/main.js"], { ...env, BROKER_PORT: String(await benchPort()) }, join(work, "broker.log"));
  // Logs are kept when the run failed or threw (releaseWork).
  let finished = false;
  try {
    await load(work, "warm-up", server, "/token", { pool, durationSeconds: 3 });
    const pid = server.child.pid ?? 0;
    for (let run = 1; run <= REPEAT; run++) {
      if (run > 1 && GAP_SECONDS > 0) await new Promise((resolve) => setTimeout(resolve, GAP_SECONDS * 1000));
      const hitsBefore = await cacheHits(server);
      const before = await threadTicks(pid);
      const result = await load(work, `measured-${run}`, server, "/token", { pool, durationSeconds: SECONDS });
      const after = await threadTicks(pid);
      const hits = (await cacheHits(server)) - hitsBefore;
      const rows = [...after].map(([name, ticks]) => ({
        thread: name,
        "µs/request": Math.round(((ticks - (before.get(name) ?? 0)) * 10_000) / Math.max(1, result.requests)),
      }));
      const label = REPEAT > 1 ? ` (run ${run} of ${REPEAT})` : "";
      console.log(`${ALG} cold${label}: ${result.requests} requests, ${result.requestsPerSecond} req/s, ${result.cpuMicrosPerRequest} µs/req (process), peak RSS ${result.peakRssMb} MB, cache hits ${hits}, errors ${result.errors + result.non2xx}`);
      console.table(rows.filter((row) => row["µs/request"] > 0));
    }
    finished = true;
  } finally {
    await stopProcess(server);
    await redis.stop();
    await releaseWork(work, finished && process.exitCode === undefined);
  }
}

await main();
