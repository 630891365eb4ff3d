/**
 * `npx tsx bench/rss-breakdown.ts`: where a loaded broker's resident memory lives. Starts the broker
 * as deployed (bench/cold-bench.ts: Redis, both rate limits on), drives the cold ES256 exchange for
 * BENCH_DURATION seconds (default 15) after a warm-up, then prints its RSS split as the kernel
 * sees it (/proc/<pid>/status: anonymous and file-backed; /proc/<pid>/smaps: by mapping, where
 * `[anon]` holds V8's heap and malloc's mmapped arenas, `[heap]` malloc's main arena and the node
 * binary its code pages) beside V8's own heap spaces (from the broker's /metrics). Another Node
 * or other flags: BENCH_NODE (a node binary), BENCH_NODE_ARGS (default: the shipped flags),
 * BENCH_ENV (JSON, added to the broker's environment, e.g. {"MALLOC_ARENA_MAX":"1"} to move
 * malloc's memory into `[heap]` where it can be told apart). BENCH_RSS_SCENARIO=svid drives the
 * bench's X.509-SVID scenario instead of the cold exchange.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { prepareColdBench } from "./cold-bench.js";
import { benchPort, BROKER_ARGS, load, releaseWork, startProcess, stopProcess } from "./processes.js";

const SECONDS = Number(process.env.BENCH_DURATION ?? 15);
const NODE = process.env.BENCH_NODE ?? process.execPath;
const FLAGS = process.env.BENCH_NODE_ARGS === undefined ? BROKER_ARGS.slice(0, -1) : process.env.BENCH_NODE_ARGS.split(" ").filter((flag) => flag !== "");
const EXTRA_ENV = JSON.parse(process.env.BENCH_ENV ?? "{}") as Record<string, string>;
const SVID = process.env.BENCH_RSS_SCENARIO === "svid";
const MB = 1024 * 1024;

async function main(): Promise<void> {
  const { work, env, pool, redis, svidBody } = await prepareColdBench("broker-rss-", "ES256", SVID ? 1 : SECONDS * 5_000 + 20_000);
  const server = await startProcess([...FLAGS, "dist/main.js"], { ...env, ...EXTRA_ENV, BROKER_PORT: String(await benchPort()) }, join(work, "broker.log"), NODE);
  // Logs are kept when the run failed or threw (releaseWork).
  let finished = false;
  try {
    const result = SVID
      ? await load(work, "rss", server, "/svid/x509", { bodies: [svidBody], durationSeconds: SECONDS, warmUp: true })
      : await load(work, "rss", server, "/token", { pool, durationSeconds: SECONDS, warmUp: true });
    const pid = server.child.pid;
    if (pid === undefined) throw new Error("the broker has no pid");
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
    console.log(`${SVID ? "X.509-SVID" : "cold ES256"}, node ${NODE} ${FLAGS.join(" ")}: ${result.requestsPerSecond} req/s, ${result.cpuMicrosPerRequest} µs CPU/req, peak RSS ${result.peakRssMb} MB, errors ${result.errors + result.non2xx}`);
    console.log(`RSS now ${(kb("VmRSS") / 1024).toFixed(1)} MB: anonymous ${(kb("RssAnon") / 1024).toFixed(1)}, file-backed ${(kb("RssFile") / 1024).toFixed(1)}`);
    console.log(`by mapping: ${byMapping(await readFile(`/proc/${pid}/smaps`, "utf8"))}`);
    const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    console.log(`V8 heap spaces (size): ${heapSpaces(metrics)}`);
    finished = true;
  } finally {
    await stopProcess(server);
    await redis.stop();
    await releaseWork(work, finished && process.exitCode === undefined);
  }
}

/** Resident MB by mapping name (a file's base name, `[anon]` for unnamed), largest first. */
function byMapping(smaps: string): string {
  const totals = new Map<string, number>();
  let name = "[anon]";
  for (const line of smaps.split("\n")) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header !== null) {
      const path = header[1] ?? "";
      name = path === "" ? "[anon]" : (path.split("/").pop() ?? path);
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss !== null) totals.set(name, (totals.get(name) ?? 0) + Number(rss[1]) * 1024);
  }
  return [...totals]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6)
    .map(([mapping, bytes]) => `${mapping} ${(bytes / MB).toFixed(1)}`)
    .join(", ");
}

/** prom-client's nodejs_heap_space_size_total_bytes, the spaces holding more than 0.1 MB. */
function heapSpaces(metrics: string): string {
  const spaces: string[] = [];
  for (const line of metrics.split("\n")) {
    const match = /^\w*nodejs_heap_space_size_total_bytes\{space="(\w+)"\} (\d+)/.exec(line);
    if (match !== null && Number(match[2]) > 0.1 * MB) spaces.push(`${match[1]} ${(Number(match[2]) / MB).toFixed(1)}`);
  }
  return spaces.join(", ");
}

await main();
