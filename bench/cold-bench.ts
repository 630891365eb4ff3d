/**
 * What the cold-exchange tools (ab-cold.ts, thread-cpu.ts) share: the broker's environment as
 * deployed (Redis, both rate limits on with budgets no load reaches), production material made
 * as `npm run bench` makes it (a root CA included), a pool of distinct subject tokens, each to be
 * sent once, and the body of the bench's X.509-SVID scenario (one subject token, one P-256 CSR).
 */
import { createPrivateKey } from "node:crypto";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyAndCsr } from "../src/cli/svid-client.js";
import { initSigningKeys } from "../src/credentials/key-rotation.js";
import { createRootCa } from "../src/credentials/x509/ca-store.js";
import { toSigningKey } from "../src/credentials/signing-key.js";
import { systemClock } from "../src/lib/clock.js";
import { startRedisServer, type RedisServerHandle } from "../test/support/redis-server.js";
import { benchPort, bodyPool, ROOT, run, type BodyPool } from "./processes.js";
import { BENCH_ISSUER, exchangeBody, JWT_TYPE, mintRs256Subject, mintSubject, TRUST_DOMAIN, writeConfig } from "./setup.js";

const UNLIMITED = "100000000/1s";

export interface ColdBench {
  readonly work: string;
  readonly env: Record<string, string>;
  readonly pool: BodyPool;
  readonly redis: RedisServerHandle;
  /** A POST /svid/x509 body: one subject token and a P-256 CSR, as `npm run bench` sends. */
  readonly svidBody: string;
}

/** Builds dist/, writes the material under a new directory named `prefix`…, starts Redis and mints `tokens` subject tokens. */
export async function prepareColdBench(prefix: string, alg: "ES256" | "RS256", tokens: number): Promise<ColdBench> {
  await run("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: ROOT });
  const work = await mkdtemp(join(tmpdir(), prefix));
  const issuerUrl = `http://127.0.0.1:${await benchPort()}`;
  const { policyDir, benchKeyFile, rsKey, rsKid } = await writeConfig(work, issuerUrl);
  await initSigningKeys(join(work, "keys", "signing"), { clock: systemClock });
  const caDir = join(work, "ca-root");
  const ca = { dir: caDir, certificate: join(caDir, "ca.pem"), key: join(caDir, "ca.key") };
  await createRootCa(ca, TRUST_DOMAIN, new Date(), { commonName: "bench root CA", days: 30 });
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
    BROKER_CA_CERT: ca.certificate,
    BROKER_CA_KEY: ca.key,
    BROKER_TRUST_DOMAIN: TRUST_DOMAIN,
  };
  const benchKey = await toSigningKey(createPrivateKey(await readFile(benchKeyFile, "utf8")));
  const bodies = await Promise.all(
    Array.from({ length: tokens }, async () => exchangeBody(alg === "RS256" ? mintRs256Subject(rsKey, rsKid, issuerUrl) : await mintSubject(benchKey, BENCH_ISSUER, issuerUrl))),
  );
  const { csrPem } = await generateKeyAndCsr("ec-p256");
  const svidBody = new URLSearchParams({ subject_token_type: JWT_TYPE, subject_token: await mintSubject(benchKey, BENCH_ISSUER, issuerUrl), csr: csrPem }).toString();
  return { work, env, pool: bodyPool(bodies), redis, svidBody };
}
