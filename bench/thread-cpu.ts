/**
 * `npx tsx bench/thread-cpu.ts`: where a cold exchange's CPU goes by thread. The broker as
 * deployed (Redis, both rate limits on), a new ES256 subject token per request (BENCH_AB_ALG=RS256
 * for RS256); after a warm-up, the CPU of each of the broker's threads (/proc/<pid>/task/<tid>/stat,
 * grouped by the thread's name) is read before and after BENCH_DURATION seconds of load, and
 * printed in µs per request. The main thread is "node"; V8's GC and compiler helpers are
 * "V8 DefaultWorke", libuv's pool "libuv-worker".
 */
import { createPrivateKey } from "node:crypto";
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initSigningKeys } from "../src/credentials/key-rotation.js";
import { toSigningKey } from "../src/credentials/signing-key.js";
import { systemClock } from "../src/lib/clock.js";
import { startRedisServer } from "../test/support/redis-server.js";
import { cacheHits } from "./compare.js";
import { benchPort, BROKER_ARGS, bodyPool, load, ROOT, run, startProcess, stopProcess } from "./processes.js";
import { BENCH_ISSUER, exchangeBody, mintRs256Subject, mintSubject, writeConfig } from "./setup.js";

const SECONDS = Number(process.env.BENCH_DURATION ?? 8);
const ALG = process.env.BENCH_AB_ALG === "RS256" ? "RS256" : "ES256";
const UNLIMITED = "100000000/1s";

async function threadTicks(pid: number): Promise<Map<string, number>> {
  const byName = new Map<string, number>();
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, "utf8").catch(() => "");
    const name = /\((.*)\)/.exec(stat)?.[1] ?? "?";
    const fields = stat.split(") ")[1]?.split(" ") ?? [];
    const ticks = (Number(fields[11]) || 0) + (Number(fields[12]) || 0);
    byName.set(name, (byName.get(name) ?? 0) + ticks);
  }
  return byName;
}

async function main(): Promise<void> {
  await run("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: ROOT });
  const work = await mkdtemp(join(tmpdir(), "broker-threads-"));
  const issuerUrl = `http://127.0.0.1:${await benchPort()}`;
  const { policyDir, benchKeyFile, rsKey, rsKid } = await writeConfig(work, issuerUrl);
  await initSigningKeys(join(work, "keys", "signing"), { clock: systemClock });
  const redis = await startRedisServer();
  const env = {
    BROKER_ISSUER_URL: issuerUrl,
    BROKER_KEYS_DIR: join(work, "keys"),
    BROKER_POLICY_DIR: policyDir,
    LOG_LEVEL: "info",
    NODE_ENV: "production",
    BROKER_WATCH_POLICIES: "false",
    BROKER_POLICY_FIXTURES: "off",
    REDIS_URL: redis.url,
    BROKER_RATE_LIMIT_CLIENT: UNLIMITED,
    BROKER_RATE_LIMIT_WORKLOAD: UNLIMITED,
    ...(JSON.parse(process.env.BENCH_ENV ?? "{}") as Record<string, string>),
  };
  const benchKey = await toSigningKey(createPrivateKey(await readFile(benchKeyFile, "utf8")));
  const bodies = await Promise.all(
    Array.from({ length: (SECONDS + 3) * 4_000 + 10_000 }, async () =>
      exchangeBody(ALG === "RS256" ? mintRs256Subject(rsKey, rsKid, issuerUrl) : await mintSubject(benchKey, BENCH_ISSUER, issuerUrl)),
    ),
  );
  const pool = bodyPool(bodies);
  const server = await startProcess(process.env.BENCH_NODE_ARGS ? [...process.env.BENCH_NODE_ARGS.split(" "), ...BROKER_ARGS.slice(1)] : BROKER_ARGS, { ...env, BROKER_PORT: String(await benchPort()) }, join(work, "broker.log"));
  try {
    await load(work, "warm-up", server, "/token", { pool, durationSeconds: 3 });
    const pid = server.child.pid ?? 0;
    const hitsBefore = await cacheHits(server);
    const before = await threadTicks(pid);
    const result = await load(work, "measured", server, "/token", { pool, durationSeconds: SECONDS });
    const after = await threadTicks(pid);
    const hits = (await cacheHits(server)) - hitsBefore;
    const rows = [...after].map(([name, ticks]) => ({
      thread: name,
      "µs/request": Math.round(((ticks - (before.get(name) ?? 0)) * 10_000) / Math.max(1, result.requests)),
    }));
    console.log(`${ALG} cold: ${result.requests} requests, ${result.requestsPerSecond} req/s, ${result.cpuMicrosPerRequest} µs/req (process), cache hits ${hits}, errors ${result.errors + result.non2xx}`);
    console.table(rows.filter((row) => row["µs/request"] > 0));
  } finally {
    await stopProcess(server);
    await redis.stop();
  }
}

await main();
