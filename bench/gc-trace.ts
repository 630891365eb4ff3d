/**
 * `npx tsx bench/gc-trace.ts`: what garbage collection costs a cold exchange, from V8's own
 * account. The broker as deployed (Redis, both rate limits on), a new ES256 subject token per
 * request (BENCH_AB_ALG=RS256 for RS256), started with the shipped flags plus `--trace-gc
 * --trace-gc-nvp` (one line of name=value pairs per collection, on the broker's stdout). After a
 * warm-up, the lines written during BENCH_DURATION seconds of load are read and summed:
 *
 * - scavenges (young generation): their count, the main thread's pause and the helper threads'
 *   parallel work (`background.scavenge.parallel`) per exchange; what survived and was promoted
 *   per scavenge, and how many scavenges promoted more than 100 KB (a broker in the usual state
 *   promotes a few KB; the ninth round in bench/README.md found what kept ~250 KB); and the part
 *   of the pause spent on external weak handles, i.e. finalizing the native objects
 *   (node:crypto jobs, hashes) that died young, with how many died per exchange;
 * - mark-compacts (old generation): their count and pause per exchange.
 *
 * Unlike process CPU, which moves ~30 % within an hour on this shared machine, these are V8's
 * timings of its own work and its byte counts, so a change to what a request allocates or keeps
 * alive shows here first. BENCH_NODE_ARGS replaces the shipped flags (the trace flags are added).
 */
import { open, stat } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { cacheHits } from "./compare.js";
import { benchPort, BROKER_ARGS, load, releaseWork, startProcess, stopProcess } from "./processes.js";
import { prepareColdBench } from "./cold-bench.js";

const SECONDS = Number(process.env.BENCH_DURATION ?? 8);
const ALG = process.env.BENCH_AB_ALG === "RS256" ? "RS256" : "ES256";
const TRACE_FLAGS = ["--trace-gc", "--trace-gc-nvp"];

/** One --trace-gc-nvp line: its kind (`s` scavenge, `mc` mark-compact, …) and its numeric fields. */
interface GcEvent {
  readonly kind: string;
  readonly fields: ReadonlyMap<string, number>;
}

/** The --trace-gc-nvp lines among a log's lines (the broker's JSON log lines are skipped). */
export function parseGcEvents(text: string): GcEvent[] {
  const events: GcEvent[] = [];
  for (const line of text.split("\n")) {
    const kind = / gc=(\w+) /.exec(line)?.[1];
    if (kind === undefined) continue;
    const fields = new Map<string, number>();
    for (const [, name, value] of line.matchAll(/([\w.]+)=(-?[\d.]+)%?(?= |$)/g)) {
      if (name !== undefined && value !== undefined) fields.set(name, Number(value));
    }
    events.push({ kind, fields });
  }
  return events;
}

/** Above this, a scavenge promoted more than the few KB per scavenge of a broker in the usual state. */
export const HIGH_PROMOTION_KB = 100;

export interface GcSummary {
  readonly scavenges: number;
  readonly scavengePauseMicros: number;
  readonly scavengeHelperMicros: number;
  readonly weakHandleMicros: number;
  readonly nativeObjectsDied: number;
  readonly survivedKbPerScavenge: number;
  readonly promotedKbPerScavenge: number;
  /**
   * Scavenges that promoted more than HIGH_PROMOTION_KB: the mark of a process whose finished
   * requests are kept alive past a scavenge by a dead old-generation object (bench/README.md,
   * ninth round). A broker in the usual state promotes a few KB per scavenge.
   */
  readonly highPromotionScavenges: number;
  readonly markCompacts: number;
  readonly markCompactPauseMicros: number;
}

/** Sums the events of a window, per exchange (µs and counts) or per scavenge (KB). */
export function summarize(events: readonly GcEvent[], exchanges: number): GcSummary {
  const scavenges = events.filter((event) => event.kind === "s");
  const markCompacts = events.filter((event) => event.kind === "mc" || event.kind === "mmc");
  const sum = (list: readonly GcEvent[], field: string): number => list.reduce((total, event) => total + (event.fields.get(field) ?? 0), 0);
  const perExchange = (value: number): number => Math.round((value / Math.max(1, exchanges)) * 10) / 10;
  const perScavengeKb = (bytes: number): number => Math.round(bytes / Math.max(1, scavenges.length) / 1024);
  return {
    scavenges: scavenges.length,
    // V8 reports milliseconds: × 1000 for µs.
    scavengePauseMicros: perExchange(sum(scavenges, "pause") * 1000),
    scavengeHelperMicros: perExchange(sum(scavenges, "background.scavenge.parallel") * 1000),
    weakHandleMicros: perExchange(sum(scavenges, "heap.external_weak_global_handles") * 1000),
    nativeObjectsDied: perExchange(sum(scavenges, "nodes_died_in_new")),
    survivedKbPerScavenge: perScavengeKb(sum(scavenges, "new_space_survived")),
    promotedKbPerScavenge: perScavengeKb(sum(scavenges, "promoted")),
    highPromotionScavenges: scavenges.filter((event) => (event.fields.get("promoted") ?? 0) > HIGH_PROMOTION_KB * 1024).length,
    markCompacts: markCompacts.length,
    markCompactPauseMicros: perExchange(sum(markCompacts, "pause") * 1000),
  };
}

async function readFrom(file: string, offset: number): Promise<string> {
  const handle = await open(file, "r");
  try {
    const { size } = await handle.stat();
    const buffer = Buffer.alloc(Math.max(0, size - offset));
    await handle.read(buffer, 0, buffer.length, offset);
    return buffer.toString("utf8");
  } finally {
    await handle.close();
  }
}

async function main(): Promise<void> {
  const { work, env, pool, redis } = await prepareColdBench("broker-gc-", ALG, (SECONDS + 3) * 5_000 + 10_000);
  const flags = process.env.BENCH_NODE_ARGS === undefined ? BROKER_ARGS.slice(0, -1) : process.env.BENCH_NODE_ARGS.split(" ").filter((flag) => flag !== "");
  const logFile = join(work, "broker.log");
  const server = await startProcess([...flags, ...TRACE_FLAGS, BROKER_ARGS.at(-1) ?? "dist/main.js"], { ...env, BROKER_PORT: String(await benchPort()) }, logFile);
  let finished = false;
  try {
    await load(work, "warm-up", server, "/token", { pool, durationSeconds: 3 });
    const hitsBefore = await cacheHits(server);
    const offset = (await stat(logFile)).size;
    const result = await load(work, "measured", server, "/token", { pool, durationSeconds: SECONDS });
    const events = parseGcEvents(await readFrom(logFile, offset));
    const hits = (await cacheHits(server)) - hitsBefore;
    console.log(`${ALG} cold: ${result.requests} requests, ${result.requestsPerSecond} req/s, ${result.cpuMicrosPerRequest} µs/req (process), peak RSS ${result.peakRssMb} MB, cache hits ${hits}, errors ${result.errors + result.non2xx}`);
    // The window's lines include the collections of requests still in flight at its ends: a few in ~30,000.
    console.table(summarize(events, result.requests));
    finished = result.errors + result.non2xx === 0 && hits === 0;
    if (!finished) process.exitCode = 1;
  } finally {
    await stopProcess(server);
    await redis.stop();
    await releaseWork(work, finished);
  }
}

// Run as a script; imported (by its test), it only lends its parser.
if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
