/**
 * The per-stage profile of the cold exchange: the broker once more under `node --cpu-prof`, its
 * samples during the measured load attributed to stages by bench/stages.ts.
 */
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { BROKER_ARGS, CONNECTIONS, DURATION, load, startProcess, stopProcess } from "./processes.js";
import { cacheHits } from "./compare.js";
import { stageCosts, type CpuProfile, type StageCosts } from "./stages.js";

export interface StageProfile extends StageCosts {
  durationSeconds: number;
  requests: number;
  cpuMicrosPerRequest: number;
}

/**
 * Runs the cold exchange against a broker started with --cpu-prof and attributes the profile's
 * self time to stages (bench/stages.ts). Only the samples taken during the measured load count:
 * V8's profile clock and process.hrtime are both CLOCK_MONOTONIC.
 */
export async function profileColdExchange(work: string, env: Record<string, string>, bodies: readonly string[]): Promise<StageProfile> {
  const dir = await mkdtemp(join(work, "cpu-prof-"));
  const server = await startProcess(["--cpu-prof", `--cpu-prof-dir=${dir}`, "--cpu-prof-interval=250", ...BROKER_ARGS], env, join(work, "broker-profiled.log"));
  const durationSeconds = Math.min(DURATION, 5);
  // Warm-up on tokens the measured run does not use (drive.ts starts at the first body), so the
  // measured requests all miss the verified-token cache.
  const warm = bodies.slice(-5_000);
  const measured = bodies.slice(0, -5_000);
  await load(work, "profile warm-up", server, "/token", { bodies: warm, connections: 10, durationSeconds: 3 });
  const hitsBefore = await cacheHits(server);
  const from = Number(process.hrtime.bigint() / 1000n);
  const result = await load(work, "profiled", server, "/token", { bodies: measured, durationSeconds });
  const to = Number(process.hrtime.bigint() / 1000n);
  const hits = (await cacheHits(server)) - hitsBefore;
  if (hits > 0) throw new Error(`the verified-token cache answered ${hits} requests of the profiled cold run`);
  await stopProcess(server);
  if (result.errors > 0 || result.non2xx > 0) throw new Error(`the profiled run had ${result.errors} errors and ${result.non2xx} non-2xx`);
  const file = (await readdir(dir)).find((name) => name.endsWith(".cpuprofile"));
  if (!file) throw new Error(`no .cpuprofile in ${dir}`);
  const cpuProfile = JSON.parse(await readFile(join(dir, file), "utf8")) as CpuProfile;
  console.log(`cpu profile of the cold exchange: ${join(dir, file)}`);
  const costs = stageCosts(cpuProfile, result.requests, from, to);
  if (costs.samplesInWindow === 0) throw new Error("no profile samples in the measured window (clock mismatch?)");
  return { durationSeconds, requests: result.requests, cpuMicrosPerRequest: result.cpuMicrosPerRequest, ...costs };
}

export function printProfile(profile: StageProfile): void {
  console.log(
    `\nPer-stage cost of one cold ES256 exchange (redis, rate limits on), main-thread self time from --cpu-prof, ${profile.durationSeconds} s at c=${CONNECTIONS}, ${profile.requests} requests: ` +
      `${profile.sampledMicrosPerRequest} µs/request sampled on the main thread, ${profile.cpuMicrosPerRequest} µs/request of process CPU (/proc; the rest is other threads: the profiler's own, ~35 µs, then V8's helpers and libuv's pool)`,
  );
  console.table(profile.rows.map((row) => ({ stage: row.stage, "µs/request": row.microsPerRequest, "share %": row.share })));
  console.log(`largest frames in "other" (map them in bench/stages.ts): ${profile.topOther.map((f) => `${f.frame} ${f.microsPerRequest} µs`).join("; ")}`);
}

