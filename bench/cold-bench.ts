/**
 * What the cold-exchange tools (ab-cold.ts, thread-cpu.ts) share: the broker's environment as
 * deployed (Redis, both rate limits on with budgets no load reaches), production material made
 * as `npm run bench` makes it, and a pool of distinct subject tokens, each to be sent once.
 */
import { createPrivateKey } from "node:crypto";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initSigningKeys } from "../src/credentials/key-rotation.js";
import { toSigningKey } from "../src/credentials/signing-key.js";
import { systemClock } from "../src/lib/clock.js";
import { startRedisServer, type RedisServerHandle } from "../test/support/redis-server.js";
import { benchPort, bodyPool, ROOT, run, type BodyPool } from "./processes.js";
import { BENCH_ISSUER, exchangeBody, mintRs256Subject, mintSubject, writeConfig } from "./setup.js";

const UNLIMITED = "100000000/1s";

export interface ColdBench {
  readonly work: string;
  readonly env: Record<string, string>;
  readonly pool: BodyPool;
  readonly redis: RedisServerHandle;
}

/** Builds dist/, writes the material under a new directory named `prefix`…, starts Redis and mints `tokens` subject tokens. */
export async function prepareColdBench(prefix: string, alg: "ES256" | "RS256", tokens: number): Promise<ColdBench> {
  await run("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: ROOT });
  const work = await mkdtemp(join(tmpdir(), prefix));
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
  };
  const benchKey = await toSigningKey(createPrivateKey(await readFile(benchKeyFile, "utf8")));
  const bodies = await Promise.all(
    Array.from({ length: tokens }, async () => exchangeBody(alg === "RS256" ? mintRs256Subject(rsKey, rsKid, issuerUrl) : await mintSubject(benchKey, BENCH_ISSUER, issuerUrl))),
  );
  return { work, env, pool: bodyPool(bodies), redis };
}
