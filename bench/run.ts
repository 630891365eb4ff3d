/**
 * `npm run bench`: drives real server processes on 127.0.0.1 with autocannon (bench/drive.ts, its
 * own process) and prints, per scenario, req/s, p50/p99/max latency, errors and non-2xx, server
 * CPU µs per request and peak RSS, with ratios to floors and a peer measured in the same run.
 * Results also go to bench/results/<time>.json with machine info.
 *
 * Two parts: the supporting scenarios, once each; then issue 14's comparison (the naive floor,
 * oidc-provider, and the broker as deployed: cold ES256, cold RS256, cached, X.509-SVID), all
 * servers up together and run in alternation for BENCH_ROUNDS rounds, each figure the median of
 * its rounds. Then p99 at half of the cold exchange's maximum rate, an optional soak, and the
 * per-stage profile.
 *
 * Env: BENCH_DURATION (s per scenario, default 10), BENCH_CONNECTIONS (default 50), BENCH_ROUNDS
 * (default 2), BENCH_SOAK_SECONDS (default 0: off; 60 for the RSS check), BENCH_ONLY=profile
 * (only the profiled cold exchange), BENCH_ONLY=compare (only the alternating comparison and the
 * half-load p99), BENCH_ONLY=svid (only the X.509-SVID scenario on the memory
 * broker; BENCH_CPU_PROF=1 runs it under --cpu-prof), BENCH_BASELINE (a checkout of another commit, built, with its
 * node_modules: its broker runs the deployed scenarios in the same rounds; BENCH_BASELINE_ENV, JSON, adds
 * to its environment, e.g. the same checkout with another setting; BENCH_BASELINE_NODE_FLAGS, its
 * node flags instead of the shipped ones, BROKER_ARGS). Needs redis-server.
 */
import { createPrivateKey, randomBytes } from "node:crypto";
import { mkdtemp, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { generateKeyAndCsr } from "../src/cli/svid-client.js";
import { signJwt } from "../src/credentials/jwt-signer.js";
import { initSigningKeys } from "../src/credentials/key-rotation.js";
import { createRootCa } from "../src/credentials/x509/ca-store.js";
import { toSigningKey, type SigningKey } from "../src/credentials/signing-key.js";
import { systemClock } from "../src/lib/clock.js";
import { startRedisServer } from "../test/support/redis-server.js";
import { COLD_HIT_SHARE_MAX, WORKERS, compareInRounds, halfLoadP99, soak, type Comparison, type Scenario } from "./compare.js";
import { benchPort, BROKER_ARGS, bodyPool, CONNECTIONS, DURATION, load, releaseWork, ROOT, run, startProcess, stopProcess, type Result } from "./processes.js";
import { printProfile, profileColdExchange } from "./profile-run.js";
import {
  ACCESS_TOKEN_TYPE,
  BENCH_ISSUER,
  checkPeerToken,
  exchangeBody,
  exchangeFor,
  GRANT_TYPE,
  JWT_TYPE,
  mintRs256Subject,
  mintSubject,
  ONCE_ISSUER,
  TRUST_DOMAIN,
  writeConfig,
} from "./setup.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const SOAK_SECONDS = Number(process.env.BENCH_SOAK_SECONDS ?? 0);
const BASELINE = process.env.BENCH_BASELINE;
/** Extra environment for the baseline broker, as JSON (e.g. the same build with another setting). */
const BASELINE_ENV = JSON.parse(process.env.BENCH_BASELINE_ENV ?? "{}") as Record<string, string>;
/** Node's flags for the baseline broker, space-separated (default: the shipped ones, BROKER_ARGS): GC and compiler settings measured side by side. */
const BASELINE_NODE_FLAGS = (process.env.BENCH_BASELINE_NODE_FLAGS ?? BROKER_ARGS.slice(0, -1).join(" ")).split(" ").filter((flag) => flag !== "");
const PEER_CLIENT_ID = "bench-client";
const PEER_CLIENT_SECRET = randomBytes(24).toString("base64url");
/** Rate limits on, with budgets no load here reaches: what the checks cost, not what they refuse. */
const UNLIMITED = "100000000/1s";
/**
 * Distinct subject tokens for a cold scenario. More than the verified-token cache holds (10,000),
 * cycled: a token comes back only after more than the cache's worth of others, so every request
 * misses the cache (and the bench checks it did, from the broker's cache metric).
 */
const COLD_TOKENS = Math.max(24_000, 3_000 * DURATION);
/** ES256 tokens are cheap to mint: enough that the profiled run (up to 5 s) needs no wrap-around either. */
const ES_TOKENS = Math.max(40_000, 5_000 * DURATION);

async function main(): Promise<void> {
  await run("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: ROOT });
  const work = await mkdtemp(join(tmpdir(), "broker-bench-"));
  const keysDir = join(work, "keys");
  const port = await benchPort();
  const issuerUrl = `http://127.0.0.1:${port}`;
  const { policyDir, benchKeyFile, benchJwks, onceKeyFile, rsKey, rsKid } = await writeConfig(work, issuerUrl);
  // Production material, made as an operator would (`broker keys init --ca`).
  await initSigningKeys(join(keysDir, "signing"), { clock: systemClock });
  const caDir = join(work, "ca-root");
  const ca = { dir: caDir, certificate: join(caDir, "ca.pem"), key: join(caDir, "ca.key") };
  await createRootCa(ca, TRUST_DOMAIN, new Date(), { commonName: "bench root CA", days: 30 });
  const brokerEnv = {
    BROKER_PORT: String(port),
    // Fixed, so a baseline broker on another port is the same issuer (subject tokens name it as aud).
    BROKER_ISSUER_URL: issuerUrl,
    BROKER_KEYS_DIR: keysDir,
    BROKER_POLICY_DIR: policyDir,
    LOG_LEVEL: "info",
    NODE_ENV: "production",
    BROKER_CA_CERT: ca.certificate,
    BROKER_CA_KEY: ca.key,
    BROKER_TRUST_DOMAIN: TRUST_DOMAIN,
    BROKER_WATCH_POLICIES: "false",
    // The bench's policies carry no fixtures; the gate runs only when a set loads, never per request.
    BROKER_POLICY_FIXTURES: "off",
    // Every request comes from 127.0.0.1 for one workload: the default limits would refuse most of
    // them. Off here; the deployed shape (below) turns them on with budgets above the load.
    BROKER_RATE_LIMIT_CLIENT: "off",
    BROKER_RATE_LIMIT_WORKLOAD: "off",
  };
  const benchKey = await toSigningKey(createPrivateKey(await readFile(benchKeyFile, "utf8")));
  const esBodies = await Promise.all(Array.from({ length: ES_TOKENS }, async () => exchangeBody(await mintSubject(benchKey, BENCH_ISSUER, issuerUrl))));
  const redis = await startRedisServer();
  const limitedEnv = { ...brokerEnv, REDIS_URL: redis.url, BROKER_RATE_LIMIT_CLIENT: UNLIMITED, BROKER_RATE_LIMIT_WORKLOAD: UNLIMITED };
  if (process.env.BENCH_ONLY === "profile") {
    printProfile(await profileColdExchange(work, limitedEnv, esBodies));
    await redis.stop();
    await releaseWork(work, true);
    return;
  }

  if (process.env.BENCH_ONLY === "svid" || process.env.BENCH_ONLY === "svid-redis") {
    // svid-redis: the deployed shape (Redis, both rate limits on), to profile what Redis adds.
    const shape = process.env.BENCH_ONLY === "svid" ? { env: brokerEnv, label: "memory" } : { env: limitedEnv, label: "redis, rate limits on" };
    await svidOnly(work, shape, await mintSubject(benchKey, BENCH_ISSUER, issuerUrl));
    await redis.stop();
    // The profile it printed the path of lives there.
    if (process.env.BENCH_CPU_PROF !== "1") await releaseWork(work, true);
    return;
  }

  const results: Result[] = [];
  const memo: Record<string, Result> = {};
  const record = (key: string, result: Result) => {
    results.push(result);
    memo[key] = result;
    console.log(`${result.scenario}: ${result.requestsPerSecond} req/s, p99 ${result.latencyMs.p99} ms, ${result.cpuMicrosPerRequest} µs CPU/req, non2xx ${result.non2xx}`);
  };

  const subjectToken = await mintSubject(benchKey, BENCH_ISSUER, issuerUrl);
  const body = exchangeBody(subjectToken);
  const { csrPem } = await generateKeyAndCsr("ec-p256");
  const svidBody = new URLSearchParams({ subject_token_type: JWT_TYPE, subject_token: subjectToken, csr: csrPem }).toString();
  // Part 1 (not with BENCH_ONLY=compare): the supporting scenarios, once each.
  if (process.env.BENCH_ONLY !== "compare") {
    await supportingScenarios(record, { work, brokerEnv, redisUrl: redis.url, benchKey, onceKeyFile, issuerUrl, subjectToken, esBodies, svidBody });
  }

  // Part 2: issue 14's comparison, alternating, every server up at once.
  const rsBodies = Array.from({ length: COLD_TOKENS }, () => exchangeBody(mintRs256Subject(rsKey, rsKid, issuerUrl)));
  const esPool = bodyPool(esBodies);
  const rsPool = bodyPool(rsBodies);
  // The BROKER_WORKERS broker's own tokens (compare.ts WorkersSetup says why).
  const workersBodies = await Promise.all(Array.from({ length: ES_TOKENS }, async () => exchangeBody(await mintSubject(benchKey, BENCH_ISSUER, issuerUrl))));
  const deployed = await startProcess(BROKER_ARGS, limitedEnv, join(work, "broker-deployed.log"));
  const naive = await startProcess(["--import", "tsx", "bench/floor-server.ts", "naive", "$PORT", benchJwks, BENCH_ISSUER], {}, join(work, "naive.log"));
  // The peer: oidc-provider's client_credentials grant, ES256 JWT access tokens.
  const peer = await startProcess(
    ["--import", "tsx", "bench/oidc-provider-peer.ts", "$PORT", PEER_CLIENT_ID, PEER_CLIENT_SECRET, "https://demo.example.com", "demo:read"],
    { NODE_ENV: "production" },
    join(work, "oidc-provider.log"),
  );
  const peerBody = new URLSearchParams({ grant_type: "client_credentials", scope: "demo:read", resource: "https://demo.example.com" }).toString();
  const peerHeaders = { authorization: `Basic ${Buffer.from(`${PEER_CLIENT_ID}:${PEER_CLIENT_SECRET}`).toString("base64")}` };
  await checkPeerToken(peer, peerBody, peerHeaders);
  const svidFloor = await startProcess(["--import", "tsx", "bench/floor-server.ts", "svid", "$PORT"], {}, join(work, "svid-floor.log"));
  // The least any exchange can do here (node:http, ES256 verify and sign, nothing else): what
  // bounds every exchange's req/s under this load generator on these cores.
  const cryptoFloor = await startProcess(["--import", "tsx", "bench/crypto-floor-server.ts", "$PORT", benchJwks, BENCH_ISSUER], {}, join(work, "crypto-floor.log"));
  // The same on WORKERS processes (node:cluster): the bound for the BROKER_WORKERS broker.
  const cryptoFloors = WORKERS < 2 ? undefined : await startProcess(["--import", "tsx", "bench/crypto-floor-server.ts", "$PORT", benchJwks, BENCH_ISSUER, String(WORKERS)], {}, join(work, "crypto-floors.log"));
  // A baseline build (BENCH_BASELINE: a checkout with its own dist/ and node_modules), run beside
  // this one in the same rounds: the before/after of a change, measured side by side.
  const baseline = BASELINE === undefined ? undefined : await startProcess([...BASELINE_NODE_FLAGS, join(BASELINE, "dist/main.js")], { ...limitedEnv, ...BASELINE_ENV, BROKER_PORT: String(await benchPort()) }, join(work, "broker-baseline.log"));
  // Each baseline scenario sits just before this build's same one (compareInRounds reverses the
  // order every other round, so each pair runs both ways round), the floors and the peer beside
  // the cold exchange.
  // A cold scenario's baseline walks the same tokens with a cursor of its own (`options`): each
  // broker then meets a token again only after the whole pool, more than its doorkeeper remembers,
  // in either order. On one shared cursor, a broker running second in one round and first in the
  // next met again tokens it had seen at the end of its last run (2 s runs: 5,513 admissions).
  const withBaseline = (scenario: Scenario, key: string, label: string, options = scenario.options): Scenario[] =>
    baseline === undefined ? [scenario] : [{ ...scenario, key, scenario: `baseline broker: ${label} (redis, rate limits on)`, server: baseline, options }, scenario];
  const comparison = await compareInRounds(work, ROUNDS, [
    ...withBaseline({ key: "cold-es256", scenario: "broker: cold exchange, a new ES256 subject token each time (redis, rate limits on)", server: deployed, path: "/token", options: { pool: esPool }, cold: true }, "baseline-cold-es256", "cold exchange ES256", { pool: bodyPool(esBodies) }),
    { key: "naive", scenario: "floor: naive exchange handler", server: naive, path: "/token", options: { bodies: [body] } },
    { key: "crypto-floor", scenario: "floor: ES256 verify + sign on node:http, nothing else", server: cryptoFloor, path: "/token", options: { bodies: [body] } },
    ...(cryptoFloors === undefined
      ? []
      : [{ key: "crypto-floors", scenario: `floor: ES256 verify + sign on node:http, nothing else, ${WORKERS} processes`, server: cryptoFloors, path: "/token", options: { bodies: [body] } }]),
    { key: "oidc-provider", scenario: "peer: oidc-provider client_credentials, ES256 JWT", server: peer, path: "/token", options: { bodies: [peerBody], headers: peerHeaders } },
    ...withBaseline({ key: "cold-rs256", scenario: "broker: cold exchange, a new RS256 subject token each time (redis, rate limits on)", server: deployed, path: "/token", options: { pool: rsPool }, cold: true }, "baseline-cold-rs256", "cold exchange RS256", { pool: bodyPool(rsBodies) }),
    ...withBaseline({ key: "cached", scenario: "broker: exchange, one subject token repeated (redis, rate limits on)", server: deployed, path: "/token", options: { bodies: [body] } }, "baseline-cached", "exchange, one subject token repeated"),
    ...withBaseline({ key: "svid-deployed", scenario: "broker: X.509-SVID from a P-256 CSR (redis, rate limits on)", server: deployed, path: "/svid/x509", options: { bodies: [svidBody] } }, "baseline-svid", "X.509-SVID from a P-256 CSR"),
    { key: "svid-floor", scenario: "floor: CSR parse + sign with @peculiar/x509", server: svidFloor, path: "/svid/x509", options: { bodies: [svidBody] } },
  ], { env: limitedEnv, pool: bodyPool(workersBodies) });
  for (const [key, result] of Object.entries(comparison.medians)) record(key, result);
  await Promise.all([naive, peer, svidFloor, cryptoFloor, ...(cryptoFloors ? [cryptoFloors] : []), ...(baseline ? [baseline] : [])].map(stopProcess));

  // Part 3: p99 at half of the cold exchange's maximum rate, and the soak.
  const half = await halfLoadP99(work, deployed, esPool, (memo["cold-es256"]?.requestsPerSecond ?? 0) / 2);
  record("cold-half", half);
  const rss = SOAK_SECONDS > 0 ? await soak(work, deployed, esPool, SOAK_SECONDS) : undefined;
  if (rss) record("soak", rss.result);
  await stopProcess(deployed);

  // Part 4: where the cold exchange's time goes: the same broker once more under --cpu-prof.
  const profile = process.env.BENCH_ONLY === "compare" ? undefined : await profileColdExchange(work, limitedEnv, esBodies);
  await redis.stop();

  const summary = summarize(memo, comparison);
  console.table(
    results.map((r) => ({
      scenario: r.scenario,
      "req/s": r.requestsPerSecond,
      "p50 ms": r.latencyMs.p50,
      "p99 ms": r.latencyMs.p99,
      "max ms": r.latencyMs.max,
      errors: r.errors,
      non2xx: r.non2xx,
      "cpu µs/req": r.cpuMicrosPerRequest,
      "load gen µs/req": r.driverCpuMicrosPerRequest,
      "machine µs/req": r.machineCpuMicrosPerRequest,
      "busy %": Math.round(r.machineBusyShare * 100),
      "peak RSS MB": r.peakRssMb,
    })),
  );
  for (const [name, value] of Object.entries(summary)) console.log(`${name}: ${value}`);
  if (rss) console.log(`RSS during the ${SOAK_SECONDS} s soak (MB, every 5 s): ${rss.samplesMb.join(" ")}`);
  if (profile) printProfile(profile);
  // A scenario whose answers were errors measured something else (a floor refusing every token
  // looks fast), and a "cold" run the cache answered measured the warm path: either voids the run,
  // and its results file says so in its name.
  const failed = [...results, ...comparison.rounds.flat()].filter((r) => r.errors > 0 || r.non2xx > 0);
  if (failed.length > 0) console.error(`INVALID RUN: errors or non-2xx answers in ${[...new Set(failed.map((r) => r.scenario))].join("; ")}: see the server logs`);
  const coldBound = comparison.coldRequests * COLD_HIT_SHARE_MAX;
  const tooWarm = comparison.cacheHits > coldBound || comparison.cacheAdmissions > coldBound;
  if (tooWarm) {
    console.error(
      `INVALID RUN: the verified-token cache answered ${comparison.cacheHits} and took in ${comparison.cacheAdmissions} of ${comparison.coldRequests} cold requests (at most ${Math.floor(coldBound)} each: a pool cycles too soon)`,
    );
  }
  const invalid = failed.length > 0 || tooWarm;
  const resultsDir = join(ROOT, "bench/results");
  await mkdir(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const machine = { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGb: Math.round(totalmem() / 2 ** 30) };
  // How the brokers were started, so a result file says which flags its figures belong to.
  const brokers = { args: BROKER_ARGS, ...(BASELINE === undefined ? {} : { baseline: BASELINE, baselineNodeFlags: BASELINE_NODE_FLAGS, baselineEnv: BASELINE_ENV }) };
  const document = { machine, brokers, loadAverage: loadavg(), durationSeconds: DURATION, connections: CONNECTIONS, rounds: ROUNDS, invalid, results, rounds_detail: comparison.rounds, summary, soakRssMb: rss?.samplesMb, stages: profile };
  await writeFile(join(resultsDir, `${stamp}${invalid ? "-INVALID" : ""}.json`), `${JSON.stringify(document, null, 2)}\n`);
  await releaseWork(work, !invalid);
  if (invalid) process.exitCode = 1;
}

interface SupportingInputs {
  readonly work: string;
  readonly brokerEnv: Record<string, string>;
  readonly redisUrl: string;
  readonly benchKey: SigningKey;
  readonly onceKeyFile: string;
  readonly issuerUrl: string;
  readonly subjectToken: string;
  readonly esBodies: readonly string[];
  readonly svidBody: string;
}

/** Part 1: the supporting scenarios (floors, the memory and Redis brokers, re-exchange, introspection), once each. */
async function supportingScenarios(record: (key: string, result: Result) => void, inputs: SupportingInputs): Promise<void> {
  const { work, brokerEnv, redisUrl, benchKey, onceKeyFile, issuerUrl, subjectToken, esBodies, svidBody } = inputs;
  const hello = await startProcess(["--import", "tsx", "bench/floor-server.ts", "hello", "$PORT"], {}, join(work, "hello.log"));
  record("hello", await load(work, "floor: hono hello world", hello, "/", { warmUp: true }));
  await stopProcess(hello);

  const memory = await startProcess(BROKER_ARGS, brokerEnv, join(work, "broker-memory.log"));
  const body = exchangeBody(subjectToken);
  record("memory", await load(work, "broker: token exchange (memory)", memory, "/token", { bodies: [body], warmUp: true }));
  record("memory-c1", await load(work, "broker: token exchange (memory)", memory, "/token", { bodies: [body], connections: 1, durationSeconds: 5 }));
  record("memory-fresh", await load(work, "broker: token exchange, a new subject token each time (memory)", memory, "/token", { bodies: esBodies }));
  const brokerToken = await exchangeFor(memory, exchangeBody(subjectToken, { scope: "demo:read demo:write" }));
  const reExchange = new URLSearchParams({ grant_type: GRANT_TYPE, subject_token_type: ACCESS_TOKEN_TYPE, subject_token: brokerToken, scope: "demo:read" }).toString();
  record("reexchange", await load(work, "broker: re-exchange of a broker token (memory)", memory, "/token", { bodies: [reExchange] }));
  record("svid", await load(work, "broker: X.509-SVID from a CSR (memory)", memory, "/svid/x509", { bodies: [svidBody] }));
  await stopProcess(memory);

  // Redis store: block checks on every exchange, single-use claims for the replay-protected issuer.
  const redisBroker = await startProcess(BROKER_ARGS, { ...brokerEnv, REDIS_URL: redisUrl }, join(work, "broker-redis.log"));
  record("redis", await load(work, "broker: token exchange (redis)", redisBroker, "/token", { bodies: [body], warmUp: true }));
  record("redis-c1", await load(work, "broker: token exchange (redis)", redisBroker, "/token", { bodies: [body], connections: 1, durationSeconds: 5 }));
  const onceKey = await toSigningKey(createPrivateKey(await readFile(onceKeyFile, "utf8")));
  // More distinct tokens than the run can use: a reused one would show up as non-2xx.
  const onceBodies = await Promise.all(Array.from({ length: Math.max(20_000, 6_000 * DURATION) }, async () => exchangeBody(await mintSubject(onceKey, ONCE_ISSUER, issuerUrl))));
  record("redis-replay", await load(work, "broker: token exchange (redis, single-use tokens)", redisBroker, "/token", { bodies: onceBodies }));
  const introspector = await signJwt(benchKey, "JWT", { iss: BENCH_ISSUER, sub: "introspector", aud: issuerUrl, iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 3000 });
  const bearer = await exchangeFor(redisBroker, new URLSearchParams({ grant_type: GRANT_TYPE, subject_token_type: JWT_TYPE, subject_token: introspector, audience: issuerUrl, scope: "broker:introspect" }).toString());
  const issued = await exchangeFor(redisBroker, body);
  record(
    "introspect",
    await load(work, "broker: introspection (redis)", redisBroker, "/introspect", { bodies: [new URLSearchParams({ token: issued }).toString()], headers: { authorization: `Bearer ${bearer}` } }),
  );
  await stopProcess(redisBroker);
}

/**
 * `BENCH_ONLY=svid`: only "broker: X.509-SVID from a CSR (memory)" (for quick iteration);
 * `BENCH_ONLY=svid-redis`: the same on the deployed shape (Redis, both rate limits on). With
 * `BENCH_CPU_PROF=1` under --cpu-prof (read the profile with a frame summariser).
 */
async function svidOnly(work: string, shape: { readonly env: Record<string, string>; readonly label: string }, subjectToken: string): Promise<void> {
  const profileDir = process.env.BENCH_CPU_PROF === "1" ? await mkdtemp(join(work, "cpu-prof-")) : undefined;
  const profileArgs = profileDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${profileDir}`];
  const broker = await startProcess([...profileArgs, ...BROKER_ARGS], shape.env, join(work, "broker-svid.log"));
  const { csrPem } = await generateKeyAndCsr("ec-p256");
  const svidBody = new URLSearchParams({ subject_token_type: JWT_TYPE, subject_token: subjectToken, csr: csrPem }).toString();
  const result = await load(work, `broker: X.509-SVID from a CSR (${shape.label})`, broker, "/svid/x509", { bodies: [svidBody], warmUp: true });
  await stopProcess(broker);
  console.log(`${result.scenario}: ${result.requestsPerSecond} req/s, p99 ${result.latencyMs.p99} ms, ${result.cpuMicrosPerRequest} µs CPU/req, errors ${result.errors}, non2xx ${result.non2xx}`);
  if (profileDir !== undefined) console.log(`cpu profile: ${join(profileDir, (await readdir(profileDir)).find((name) => name.endsWith(".cpuprofile")) ?? "?")}`);
}

/** Same-run ratios: issue 14's targets, and what else a reader compares. */
function summarize(memo: Record<string, Result>, comparison: Comparison): Record<string, number | undefined> {
  const ratio = (a?: Result, b?: Result) => (a && b ? Math.round((a.requestsPerSecond / b.requestsPerSecond) * 100) / 100 : undefined);
  const cpu = (key: string) => memo[key]?.cpuMicrosPerRequest;
  // CPU per request against a floor's in the same run: on a shared VM whose speed drifts by a
  // third within hours, the figure that still compares across runs.
  const cpuRatio = (a: string, b: string) => {
    const [mine, theirs] = [cpu(a), cpu(b)];
    return mine !== undefined && theirs !== undefined && theirs > 0 ? Math.round((mine / theirs) * 100) / 100 : undefined;
  };
  const budget = (multiple: number, floor?: Result) => (floor ? Math.round((cpus().length * 1_000_000) / (multiple * floor.requestsPerSecond)) : undefined);
  return {
    "cold exchange ES256 / naive floor, req/s (issue 14: >= 1.5)": ratio(memo["cold-es256"], memo.naive),
    "cold exchange ES256 / oidc-provider, req/s (issue 14: >= 1.7)": ratio(memo["cold-es256"], memo["oidc-provider"]),
    "cold exchange RS256 / naive floor, req/s": ratio(memo["cold-rs256"], memo.naive),
    "cold exchange RS256 / oidc-provider, req/s": ratio(memo["cold-rs256"], memo["oidc-provider"]),
    "cached exchange / oidc-provider, req/s": ratio(memo.cached, memo["oidc-provider"]),
    "naive floor / oidc-provider, req/s": ratio(memo.naive, memo["oidc-provider"]),
    // The crypto floor does a strict subset of any exchange: its ratios bound the broker's here.
    "crypto floor (ES256 verify + sign, nothing else) / naive floor, req/s: the most a one-process exchange reaches here": ratio(memo["crypto-floor"], memo.naive),
    "crypto floor / oidc-provider, req/s": ratio(memo["crypto-floor"], memo["oidc-provider"]),
    "cold exchange ES256 / crypto floor, req/s": ratio(memo["cold-es256"], memo["crypto-floor"]),
    [`crypto floor on ${WORKERS} processes / naive floor, req/s: the most a BROKER_WORKERS=${WORKERS} exchange reaches here`]: ratio(memo["crypto-floors"], memo.naive),
    [`crypto floor on ${WORKERS} processes / oidc-provider, req/s`]: ratio(memo["crypto-floors"], memo["oidc-provider"]),
    [`machine busy share, crypto floor on ${WORKERS} processes`]: memo["crypto-floors"]?.machineBusyShare,
    "CPU per cold ES256 exchange / crypto floor's per request": cpuRatio("cold-es256", "crypto-floor"),
    // What a target leaves per request if every core did nothing else: the load generator's
    // share, Redis's and the server's must all fit in it.
    "machine CPU µs per request at 1.5 × the naive floor's rate, all cores saturated": budget(1.5, memo.naive),
    "machine CPU µs per request at 1.7 × oidc-provider's rate, all cores saturated": budget(1.7, memo["oidc-provider"]),
    "machine CPU µs per request, crypto floor (one process)": memo["crypto-floor"]?.machineCpuMicrosPerRequest,
    [`machine CPU µs per request, crypto floor on ${WORKERS} processes`]: memo["crypto-floors"]?.machineCpuMicrosPerRequest,
    "machine CPU µs per request, cold ES256 exchange (one process)": memo["cold-es256"]?.machineCpuMicrosPerRequest,
    [`machine CPU µs per request, cold ES256 exchange on ${WORKERS} workers`]: memo["workers-cold-es256"]?.machineCpuMicrosPerRequest,
    "load generator CPU µs per request, naive floor's run": memo.naive?.driverCpuMicrosPerRequest,
    "load generator CPU µs per request, cold ES256 run": memo["cold-es256"]?.driverCpuMicrosPerRequest,
    "machine busy share, naive floor's run (1: both cores saturated)": memo.naive?.machineBusyShare,
    "machine busy share, crypto floor's run": memo["crypto-floor"]?.machineBusyShare,
    "machine busy share, cold ES256 run": memo["cold-es256"]?.machineBusyShare,
    "CPU µs per cold ES256 exchange (issue 14: <= 250)": cpu("cold-es256"),
    "CPU µs per cold RS256 exchange (issue 14: <= 200)": cpu("cold-rs256"),
    "CPU µs per cached exchange (issue 14: <= 180)": cpu("cached"),
    "CPU per cold ES256 exchange / naive floor's per request": cpuRatio("cold-es256", "naive"),
    "CPU per cold ES256 exchange / oidc-provider's per request": cpuRatio("cold-es256", "oidc-provider"),
    "CPU per cold RS256 exchange / naive floor's per request": cpuRatio("cold-rs256", "naive"),
    "CPU per cached exchange / naive floor's per request": cpuRatio("cached", "naive"),
    "CPU per cold ES256 exchange, this build / baseline": cpuRatio("cold-es256", "baseline-cold-es256"),
    "CPU per cold RS256 exchange, this build / baseline": cpuRatio("cold-rs256", "baseline-cold-rs256"),
    "CPU per cached exchange, this build / baseline": cpuRatio("cached", "baseline-cached"),
    "CPU per X.509-SVID, this build / baseline": cpuRatio("svid-deployed", "baseline-svid"),
    "X.509-SVID per second, redis, rate limits on (issue 14: >= 1000)": memo["svid-deployed"]?.requestsPerSecond,
    "CPU µs per X.509-SVID (issue 14: <= 800)": cpu("svid-deployed"),
    "X.509-SVID / @peculiar/x509 floor, req/s": ratio(memo["svid-deployed"], memo["svid-floor"]),
    "p99 ms of the cold exchange at half of its max rate (issue 14: <= 10)": memo["cold-half"]?.latencyMs.p99,
    "cold-scenario requests the verified-token cache answered (at most 1 in 10,000: compare.ts COLD_HIT_SHARE_MAX)": comparison.cacheHits,
    "cold-scenario tokens the cache took in (fingerprint collisions only)": comparison.cacheAdmissions,
    "cold-scenario requests, all rounds": comparison.coldRequests,
    "cold exchange ES256, this build / baseline, req/s": ratio(memo["cold-es256"], memo["baseline-cold-es256"]),
    "cold exchange RS256, this build / baseline, req/s": ratio(memo["cold-rs256"], memo["baseline-cold-rs256"]),
    "cached exchange, this build / baseline, req/s": ratio(memo.cached, memo["baseline-cached"]),
    "X.509-SVID, this build / baseline, req/s": ratio(memo["svid-deployed"], memo["baseline-svid"]),
    "broker (redis) / broker (memory), cached, req/s": ratio(memo.redis, memo.memory),
    "broker (redis, single-use) / broker (memory), req/s": ratio(memo["redis-replay"], memo.memory),
    "added latency of the Redis checks, µs (c=1)":
      memo["memory-c1"] && memo["redis-c1"] ? Math.round(1e6 / memo["redis-c1"].requestsPerSecond - 1e6 / memo["memory-c1"].requestsPerSecond) : undefined,
    ...comparison.workerRatios,
  };
}

await main();
