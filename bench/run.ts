/**
 * `npm run bench`: drives real server processes on 127.0.0.1 with autocannon (bench/drive.ts, its
 * own process) and prints, per scenario, req/s, p50/p99/max latency, errors and non-2xx, server
 * CPU µs per request and peak RSS, with ratios to floors measured in the same run. Results also go
 * to bench/results/<time>.json with machine info.
 *
 * Env: BENCH_DURATION (s per scenario, default 10), BENCH_CONNECTIONS (default 50),
 * BENCH_SOAK_SECONDS (default 0: off; 60 for the RSS-growth check). BENCH_ONLY=profile (only the profiled cold exchange),
 * BENCH_ONLY=svid (only the X.509-SVID scenario; BENCH_CPU_PROF=1 runs that broker under --cpu-prof). BENCH_DIST
 * (default dist): the broker build to run, e.g. an older commit's built with `tsc --outDir dist/base`. Needs redis-server.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createPrivateKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import { mkdir, mkdtemp, open, readdir, readFile, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { generateKeyAndCsr } from "../src/cli/svid-client.js";
import { initSigningKeys } from "../src/credentials/key-rotation.js";
import { createRootCa } from "../src/credentials/x509/ca-store.js";
import { signJwt } from "../src/credentials/jwt-signer.js";
import { toSigningKey, type SigningKey } from "../src/credentials/signing-key.js";
import { systemClock } from "../src/lib/clock.js";
import { freePort } from "../test/support/broker-process.js";
import { startRedisServer } from "../test/support/redis-server.js";
import { stageCosts, type CpuProfile, type StageCosts } from "./stages.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const SOAK_SECONDS = Number(process.env.BENCH_SOAK_SECONDS ?? 0);
const run = promisify(execFile);

/** The broker as the image runs it (Dockerfile CMD, npm run start:prod); BENCH_DIST runs another build (an older commit's, to alternate). */
const BROKER_ARGS = ["--max-semi-space-size=8", `${process.env.BENCH_DIST ?? "dist"}/main.js`];
const GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt";
const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";
// The bench's own issuers, with keys it makes: the broker runs as in production, which refuses
// the development issuer, development signing keys and the development CA.
const BENCH_ISSUER = "https://bench-issuer.invalid";
const TRUST_DOMAIN = "broker.local";
const ONCE_ISSUER = "https://bench-once.invalid";
// An RS256 issuer (GitHub Actions' algorithm) for the cold RS256 exchange.
const RS_ISSUER = "https://bench-rs256.invalid";
// The oidc-provider peer's one client (client_secret_basic).
const PEER_CLIENT_ID = "bench-client";
const PEER_CLIENT_SECRET = randomBytes(24).toString("base64url");

interface Result {
  scenario: string;
  requestsPerSecond: number;
  requests: number;
  latencyMs: { p50: number; p99: number; max: number };
  errors: number;
  non2xx: number;
  cpuMicrosPerRequest: number;
  peakRssMb: number;
}

interface Server {
  child: ChildProcess;
  port: number;
}

interface LoadOptions {
  readonly bodies?: readonly string[];
  readonly headers?: Readonly<Record<string, string>>;
  readonly connections?: number;
  readonly durationSeconds?: number;
  readonly overallRate?: number;
  readonly label?: string;
  /** Run 3 s of unmeasured load first. */
  readonly warmUp?: boolean;
}

async function startProcess(args: string[], env: Record<string, string>, logFile: string): Promise<Server> {
  const port = Number(env.BROKER_PORT ?? (await freePort()));
  // Logs go to a file, as a collector would take them, not through a pipe this process must drain.
  const log = await open(logFile, "a");
  const child = spawn(process.execPath, args.map((arg) => arg.replace("$PORT", String(port))), {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", ...env, BROKER_PORT: String(port) },
    stdio: ["ignore", log.fd, log.fd],
  });
  await log.close();
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}; see ${logFile}`);
    if (Date.now() > deadline) throw new Error(`server did not answer /healthz within 30 s; see ${logFile}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { child, port };
}

async function stopProcess(server: Server): Promise<void> {
  if (server.child.exitCode !== null) return;
  const exited = new Promise((resolve) => server.child.once("exit", resolve));
  server.child.kill("SIGTERM");
  await exited;
}

/** utime + stime of a process, in microseconds (Linux /proc; USER_HZ is 100). */
async function cpuMicros(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]?.split(" ") ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / 100;
}

async function rssMb(pid: number, field: "VmHWM" | "VmRSS"): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return Math.round(kb / 102.4) / 10;
}

async function load(work: string, scenario: string, server: Server, path: string, options: LoadOptions = {}): Promise<Result> {
  const pid = server.child.pid ?? 0;
  const connections = options.connections ?? CONNECTIONS;
  const spec = {
    url: `http://127.0.0.1:${server.port}${path}`,
    connections,
    durationSeconds: options.durationSeconds ?? DURATION,
    ...(options.overallRate ? { overallRate: options.overallRate } : {}),
    method: options.bodies ? "POST" : "GET",
    headers: { ...(options.bodies ? { "content-type": "application/x-www-form-urlencoded" } : {}), ...options.headers },
    bodies: options.bodies ?? [],
  };
  const specFile = join(work, `drive-${randomBytes(4).toString("hex")}.json`);
  await writeFile(specFile, JSON.stringify(spec));
  if (options.warmUp) {
    // Unmeasured: let the JIT and caches settle, so the first scenario of a process is not penalised.
    await writeFile(`${specFile}.warm`, JSON.stringify({ ...spec, durationSeconds: 3, connections: 10 }));
    await run(process.execPath, ["--import", "tsx", join(ROOT, "bench/drive.ts"), `${specFile}.warm`], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
  }
  const before = await cpuMicros(pid);
  const { stdout } = await run(process.execPath, ["--import", "tsx", join(ROOT, "bench/drive.ts"), specFile], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
  const after = await cpuMicros(pid);
  const report = JSON.parse(stdout) as {
    requests: { average: number; total: number };
    latency: { p50: number; p99: number; max: number };
    errors: number;
    non2xx: number;
  };
  return {
    scenario: `${scenario} ${options.label ?? `c=${connections}`}`,
    requestsPerSecond: Math.round(report.requests.average),
    requests: report.requests.total,
    latencyMs: { p50: report.latency.p50, p99: report.latency.p99, max: report.latency.max },
    errors: report.errors,
    non2xx: report.non2xx,
    cpuMicrosPerRequest: Math.round((after - before) / Math.max(1, report.requests.total)),
    peakRssMb: await rssMb(pid, "VmHWM"),
  };
}

function exchangeBody(subjectToken: string, extra: Record<string, string> = {}): string {
  return new URLSearchParams({
    grant_type: GRANT_TYPE,
    subject_token_type: JWT_TYPE,
    subject_token: subjectToken,
    audience: "https://demo.example.com",
    scope: "demo:read",
    ...extra,
  }).toString();
}

/** A subject token of a bench issuer, signed through node:crypto (fast enough to mint thousands). */
function mintSubject(key: SigningKey, issuer: string, audience: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return signJwt(key, "JWT", { iss: issuer, sub: "demo-workload", aud: audience, iat: now, exp: now + 3000, jti: randomBytes(16).toString("base64url") });
}

/** An RS256 subject token, signed with node:crypto (RSA signing is the slow part of the setup). */
function mintRs256Subject(key: KeyObject, kid: string, audience: string): string {
  const now = Math.floor(Date.now() / 1000);
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const input = `${part({ alg: "RS256", typ: "JWT", kid })}.${part({ iss: RS_ISSUER, sub: "demo-workload", aud: audience, iat: now, exp: now + 3000, jti: randomBytes(16).toString("base64url") })}`;
  return `${input}.${sign("sha256", Buffer.from(input), key).toString("base64url")}`;
}

/** One exchange through a running broker, for tokens the scenarios need. */
async function exchangeFor(server: Server, body: string): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${server.port}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body,
  });
  const json = (await response.json()) as { access_token?: string };
  if (!json.access_token) throw new Error(`setup exchange failed: ${JSON.stringify(json)}`);
  return json.access_token;
}

const policyFor = (id: string, issuer: string, grant: string) => `id: ${id}
issuer: ${issuer}
condition: identity.subject == "${id === "bench-introspector" ? "introspector" : "demo-workload"}"
grant:
${grant}`;

async function writeConfig(work: string, issuerUrl: string): Promise<{ policyDir: string; benchKeyFile: string; benchJwks: string; onceKeyFile: string; rsKey: KeyObject; rsKid: string }> {
  const policyDir = join(work, "policies");
  await mkdir(policyDir);
  const demoGrant = `  workload_id: demo-workload\n  audiences: [https://demo.example.com]\n  scopes: [demo:read, demo:write]\n  max_lifetime: 10m\n`;
  // The quick-start demo grant (policies/local-dev.policy.yaml), for the bench's own issuer.
  await writeFile(
    join(policyDir, "bench-demo.policy.yaml"),
    policyFor("bench-demo", "bench", `${demoGrant}  token_types: [access_token, jwt, x509_svid]\n  spiffe_id: spiffe://${TRUST_DOMAIN}/demo-workload\n  dns_names: [localhost]\n`),
  );
  await writeFile(join(policyDir, "bench-once.policy.yaml"), policyFor("bench-once", "bench-once", demoGrant));
  await writeFile(join(policyDir, "bench-rs.policy.yaml"), policyFor("bench-rs", "bench-rs", demoGrant));
  await writeFile(
    join(policyDir, "bench-introspector.policy.yaml"),
    policyFor("bench-introspector", "bench", `  workload_id: resource-server\n  audiences: ["${issuerUrl}"]\n  scopes: [broker:introspect]\n  max_lifetime: 1h\n`),
  );
  // The bench issuer, and a second one with replay protection: each of its tokens is single-use.
  const bench = await writeIssuerKey(work, "bench");
  const once = await writeIssuerKey(work, "once");
  // The RS256 issuer: an RSA-2048 key, kept in memory (only this process mints its tokens).
  const rs = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const rsKid = "bench-rs256";
  const rsJwks = join(work, "rs-jwks.json");
  await writeFile(rsJwks, JSON.stringify({ keys: [{ ...rs.publicKey.export({ format: "jwk" }), kid: rsKid, alg: "RS256", use: "sig" }] }));
  const issuer = (id: string, iss: string, jwks: string, replay: boolean, alg = "ES256") =>
    `  - id: ${id}\n    issuer: ${iss}\n    profile: oidc\n    keys: { jwks_file: ${jwks} }\n    algorithms: [${alg}]\n    max_token_age: 1h\n    replay_protection: ${replay}\n`;
  await writeFile(
    join(policyDir, "issuers.yaml"),
    `issuers:\n${issuer("bench", BENCH_ISSUER, bench.jwks, false)}${issuer("bench-once", ONCE_ISSUER, once.jwks, true)}${issuer("bench-rs", RS_ISSUER, rsJwks, false, "RS256")}`,
  );
  return { policyDir, benchKeyFile: bench.keyFile, benchJwks: bench.jwks, onceKeyFile: once.keyFile, rsKey: rs.privateKey, rsKid };
}

/** An ES256 issuer key: the private key (PEM) and its public JWKS, in `work`. */
async function writeIssuerKey(work: string, name: string): Promise<{ keyFile: string; jwks: string }> {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const keyFile = join(work, `${name}-issuer.pem`);
  await writeFile(keyFile, privateKey.export({ format: "pem", type: "pkcs8" }).toString(), { mode: 0o600 });
  const kid = (await toSigningKey(privateKey)).kid;
  const jwks = join(work, `${name}-jwks.json`);
  await writeFile(jwks, JSON.stringify({ keys: [{ ...publicKey.export({ format: "jwk" }), kid, alg: "ES256", use: "sig" }] }));
  return { keyFile, jwks };
}

/** One token from the peer, checked to be a real ES256 JWT (jose, against the peer's JWKS) before its run. */
async function checkPeerToken(peer: Server, body: string, headers: Record<string, string>): Promise<void> {
  const base = `http://127.0.0.1:${peer.port}`;
  const response = await fetch(`${base}/token`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", ...headers }, body });
  const json = (await response.json()) as { access_token?: string };
  if (!response.ok || !json.access_token) throw new Error(`oidc-provider gave no access token: ${response.status} ${JSON.stringify(json)}`);
  if (decodeProtectedHeader(json.access_token).alg !== "ES256") throw new Error("oidc-provider's access token is not ES256");
  await jwtVerify(json.access_token, createRemoteJWKSet(new URL(`${base}/jwks`)), { issuer: base, audience: "https://demo.example.com", algorithms: ["ES256"] });
}

interface StageProfile extends StageCosts {
  durationSeconds: number;
  requests: number;
  cpuMicrosPerRequest: number;
}

/**
 * Runs the cold exchange against a broker started with --cpu-prof and attributes the profile's
 * self time to stages (bench/stages.ts). Only the samples taken during the measured load count:
 * V8's profile clock and process.hrtime are both CLOCK_MONOTONIC.
 */
async function profileColdExchange(work: string, env: Record<string, string>, bodies: readonly string[]): Promise<StageProfile> {
  const dir = await mkdtemp(join(work, "cpu-prof-"));
  const server = await startProcess(["--cpu-prof", `--cpu-prof-dir=${dir}`, "--cpu-prof-interval=250", ...BROKER_ARGS], env, join(work, "broker-profiled.log"));
  const durationSeconds = Math.min(DURATION, 5);
  // Warm-up on tokens the measured run does not use (drive.ts starts at the first body), so the
  // measured requests all miss the verified-token cache.
  const warm = bodies.slice(-5_000);
  const measured = bodies.slice(0, -5_000);
  await load(work, "profile warm-up", server, "/token", { bodies: warm, connections: 10, durationSeconds: 3 });
  const from = Number(process.hrtime.bigint() / 1000n);
  const result = await load(work, "profiled", server, "/token", { bodies: measured, durationSeconds });
  const to = Number(process.hrtime.bigint() / 1000n);
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

/** `BENCH_ONLY=profile`: only the profiled cold exchange and its stage table (for quick iteration). */
async function profileOnly(work: string, brokerEnv: Record<string, string>, issuerUrl: string, benchKeyFile: string): Promise<void> {
  const benchKey = await toSigningKey(createPrivateKey(await readFile(benchKeyFile, "utf8")));
  const freshBodies = await Promise.all(Array.from({ length: Math.max(20_000, 5_000 * DURATION) }, async () => exchangeBody(await mintSubject(benchKey, BENCH_ISSUER, issuerUrl))));
  const redis = await startRedisServer();
  const unlimited = "100000000/1s";
  const profile = await profileColdExchange(work, { ...brokerEnv, REDIS_URL: redis.url, BROKER_RATE_LIMIT_CLIENT: unlimited, BROKER_RATE_LIMIT_WORKLOAD: unlimited }, freshBodies);
  await redis.stop();
  printProfile(profile);
}

/**
 * `BENCH_ONLY=svid`: only "broker: X.509-SVID from a CSR (memory)" (for quick iteration), with
 * `BENCH_CPU_PROF=1` under --cpu-prof; read the profile with a frame summariser.
 */
async function svidOnly(work: string, brokerEnv: Record<string, string>, issuerUrl: string, benchKeyFile: string): Promise<void> {
  const profileDir = process.env.BENCH_CPU_PROF === "1" ? await mkdtemp(join(work, "cpu-prof-")) : undefined;
  const profileArgs = profileDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${profileDir}`];
  const memory = await startProcess([...profileArgs, ...BROKER_ARGS], brokerEnv, join(work, "broker-memory.log"));
  const benchKey = await toSigningKey(createPrivateKey(await readFile(benchKeyFile, "utf8")));
  const svidBody = await svidRequestBody(await mintSubject(benchKey, BENCH_ISSUER, issuerUrl));
  const result = await load(work, "broker: X.509-SVID from a CSR (memory)", memory, "/svid/x509", { bodies: [svidBody], warmUp: true });
  await stopProcess(memory);
  console.log(`${result.scenario}: ${result.requestsPerSecond} req/s, p99 ${result.latencyMs.p99} ms, ${result.cpuMicrosPerRequest} µs CPU/req, errors ${result.errors}, non2xx ${result.non2xx}`);
  if (profileDir !== undefined) console.log(`cpu profile: ${join(profileDir, (await readdir(profileDir)).find((name) => name.endsWith(".cpuprofile")) ?? "?")}`);
}

/** The body of POST /svid/x509: a new P-256 key's CSR and the given subject token. */
async function svidRequestBody(subjectToken: string): Promise<string> {
  const { csrPem } = await generateKeyAndCsr("ec-p256");
  return new URLSearchParams({ subject_token_type: JWT_TYPE, subject_token: subjectToken, csr: csrPem }).toString();
}

function printProfile(profile: StageProfile): void {
  console.log(
    `\nPer-stage cost of one cold ES256 exchange (redis, rate limits on), main-thread self time from --cpu-prof, ${profile.durationSeconds} s at c=${CONNECTIONS}, ${profile.requests} requests: ` +
      `${profile.sampledMicrosPerRequest} µs/request sampled on the main thread, ${profile.cpuMicrosPerRequest} µs/request of process CPU (/proc; the rest is other threads: libuv's pool, GC helpers)`,
  );
  console.table(profile.rows.map((row) => ({ stage: row.stage, "µs/request": row.microsPerRequest, "share %": row.share })));
  console.log(`largest frames in "other" (map them in bench/stages.ts): ${profile.topOther.map((f) => `${f.frame} ${f.microsPerRequest} µs`).join("; ")}`);
}

async function main(): Promise<void> {
  await run("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: ROOT });
  const work = await mkdtemp(join(tmpdir(), "broker-bench-"));
  const keysDir = join(work, "keys");
  const port = await freePort();
  const issuerUrl = `http://127.0.0.1:${port}`;
  const { policyDir, benchKeyFile, benchJwks, onceKeyFile, rsKey, rsKid } = await writeConfig(work, issuerUrl);
  // Production material, made as an operator would (`broker keys init --ca`).
  await initSigningKeys(join(keysDir, "signing"), { clock: systemClock });
  const caDir = join(work, "ca-root");
  const ca = { dir: caDir, certificate: join(caDir, "ca.pem"), key: join(caDir, "ca.key") };
  await createRootCa(ca, TRUST_DOMAIN, new Date(), { commonName: "bench root CA", days: 30 });
  const brokerEnv = {
    BROKER_PORT: String(port),
    BROKER_KEYS_DIR: keysDir,
    BROKER_POLICY_DIR: policyDir,
    LOG_LEVEL: "info",
    NODE_ENV: "production",
    BROKER_CA_CERT: ca.certificate,
    BROKER_CA_KEY: ca.key,
    BROKER_TRUST_DOMAIN: TRUST_DOMAIN,
    BROKER_WATCH_POLICIES: "false",
    // Every request comes from 127.0.0.1 for one workload: the default limits would refuse most of
    // them. Off here; "redis, rate limits on" measures what they cost.
    BROKER_RATE_LIMIT_CLIENT: "off",
    BROKER_RATE_LIMIT_WORKLOAD: "off",
  };
  if (process.env.BENCH_ONLY === "profile") {
    await profileOnly(work, brokerEnv, issuerUrl, benchKeyFile);
    return;
  }
  if (process.env.BENCH_ONLY === "svid") {
    await svidOnly(work, brokerEnv, issuerUrl, benchKeyFile);
    return;
  }
  const results: Result[] = [];
  const memo: Record<string, Result> = {};
  const record = (key: string, result: Result) => {
    results.push(result);
    memo[key] = result;
    console.log(`${result.scenario}: ${result.requestsPerSecond} req/s, p99 ${result.latencyMs.p99} ms, ${result.cpuMicrosPerRequest} µs CPU/req, non2xx ${result.non2xx}`);
  };

  const hello = await startProcess(["--import", "tsx", "bench/floor-server.ts", "hello", "$PORT"], {}, join(work, "hello.log"));
  record("hello", await load(work, "floor: hono hello world", hello, "/", { warmUp: true }));
  await stopProcess(hello);

  // In-memory store.
  const memory = await startProcess(BROKER_ARGS, brokerEnv, join(work, "broker-memory.log"));
  const benchKey = await toSigningKey(createPrivateKey(await readFile(benchKeyFile, "utf8")));
  const subjectToken = await mintSubject(benchKey, BENCH_ISSUER, issuerUrl);
  const body = exchangeBody(subjectToken);
  record("memory", await load(work, "broker: token exchange (memory)", memory, "/token", { bodies: [body], warmUp: true }));
  record("memory-c1", await load(work, "broker: token exchange (memory)", memory, "/token", { bodies: [body], connections: 1, durationSeconds: 5 }));
  // p99 at half of the maximum throughput. autocannon's rate limiter (-R) sends each connection's
  // quota for a second in one burst (lib/httpClient.js: reqsMadeThisSecond), which measures its own
  // bursts; so use the smallest closed-loop concurrency that reaches half the maximum instead.
  const target = (memo.memory?.requestsPerSecond ?? 0) / 2;
  for (const connections of [1, 2, 4, 8, 16]) {
    const probe = await load(work, "broker: token exchange (memory)", memory, "/token", { bodies: [body], connections, durationSeconds: 5 });
    if (probe.requestsPerSecond >= target || connections === 16) {
      record("memory-half", { ...probe, scenario: `${probe.scenario} (≥ half of max: ${Math.round(target)} req/s)` });
      break;
    }
  }
  // The same exchange with a different subject token each time: every request misses the
  // verified-token cache and pays the full jose verification (a deploy storm of new workloads).
  const freshBodies = await Promise.all(Array.from({ length: Math.max(20_000, 5_000 * DURATION) }, async () => exchangeBody(await mintSubject(benchKey, BENCH_ISSUER, issuerUrl))));
  record("memory-fresh", await load(work, "broker: token exchange, a new subject token each time (memory)", memory, "/token", { bodies: freshBodies }));
  const brokerToken = await exchangeFor(memory, exchangeBody(subjectToken, { scope: "demo:read demo:write" }));
  const reExchange = new URLSearchParams({ grant_type: GRANT_TYPE, subject_token_type: ACCESS_TOKEN_TYPE, subject_token: brokerToken, scope: "demo:read" }).toString();
  record("reexchange", await load(work, "broker: re-exchange of a broker token (memory)", memory, "/token", { bodies: [reExchange] }));
  const svidBody = await svidRequestBody(subjectToken);
  record("svid", await load(work, "broker: X.509-SVID from a CSR (memory)", memory, "/svid/x509", { bodies: [svidBody] }));
  if (SOAK_SECONDS > 0) {
    const pid = memory.child.pid ?? 0;
    const samples: number[] = [await rssMb(pid, "VmRSS")];
    const sampler = setInterval(() => void rssMb(pid, "VmRSS").then((mb) => samples.push(mb)), 5_000);
    record("soak", await load(work, "broker: token exchange (memory)", memory, "/token", { bodies: [body], durationSeconds: SOAK_SECONDS, label: `soak ${SOAK_SECONDS} s` }));
    clearInterval(sampler);
    samples.push(await rssMb(pid, "VmRSS"));
    console.log(`RSS during the soak (MB, every 5 s): ${samples.join(" ")}`);
  }
  await stopProcess(memory);

  // Redis store: block checks on every exchange, single-use claims for the replay-protected issuer.
  const redis = await startRedisServer();
  const redisBroker = await startProcess(BROKER_ARGS, { ...brokerEnv, REDIS_URL: redis.url }, join(work, "broker-redis.log"));
  record("redis", await load(work, "broker: token exchange (redis)", redisBroker, "/token", { bodies: [body], warmUp: true }));
  record("redis-c1", await load(work, "broker: token exchange (redis)", redisBroker, "/token", { bodies: [body], connections: 1, durationSeconds: 5 }));
  const onceKey = await toSigningKey(createPrivateKey(await readFile(onceKeyFile, "utf8")));
  // More distinct tokens than the run can use: a reused one would show up as non-2xx.
  const onceBodies = await Promise.all(Array.from({ length: Math.max(20_000, 5_000 * DURATION) }, async () => exchangeBody(await mintSubject(onceKey, ONCE_ISSUER, issuerUrl))));
  record("redis-replay", await load(work, "broker: token exchange (redis, single-use tokens)", redisBroker, "/token", { bodies: onceBodies }));
  const bearer = await exchangeFor(redisBroker, new URLSearchParams({ grant_type: GRANT_TYPE, subject_token_type: JWT_TYPE, subject_token: await signJwt(benchKey, "JWT", { iss: BENCH_ISSUER, sub: "introspector", aud: issuerUrl, iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 3000 }), audience: issuerUrl, scope: "broker:introspect" }).toString());
  const issued = await exchangeFor(redisBroker, body);
  record(
    "introspect",
    await load(work, "broker: introspection (redis)", redisBroker, "/introspect", {
      bodies: [new URLSearchParams({ token: issued }).toString()],
      headers: { authorization: `Bearer ${bearer}` },
    }),
  );
  await stopProcess(redisBroker);
  // Both limits on, set too high to refuse anything: two more Redis round trips per exchange.
  const unlimited = "100000000/1s";
  const limitedBroker = await startProcess(
    BROKER_ARGS,
    { ...brokerEnv, REDIS_URL: redis.url, BROKER_RATE_LIMIT_CLIENT: unlimited, BROKER_RATE_LIMIT_WORKLOAD: unlimited },
    join(work, "broker-redis-limits.log"),
  );
  record("redis-limits", await load(work, "broker: token exchange (redis, rate limits on)", limitedBroker, "/token", { bodies: [body], warmUp: true }));
  record("redis-limits-c1", await load(work, "broker: token exchange (redis, rate limits on)", limitedBroker, "/token", { bodies: [body], connections: 1, durationSeconds: 5 }));
  // Issue 14's headline: the cold exchange, as deployed. A new ES256 subject token per request
  // (this process has not seen these; the issuer has no replay protection), Redis on, both rate
  // limits on with budgets above the load.
  record("cold-es256", await load(work, "broker: cold exchange, a new ES256 subject token each time (redis, rate limits on)", limitedBroker, "/token", { bodies: freshBodies }));
  // The same with RS256 subject tokens (GitHub Actions' OIDC tokens are RS256).
  const rsBodies = Array.from({ length: Math.max(20_000, 5_000 * DURATION) }, () => exchangeBody(mintRs256Subject(rsKey, rsKid, issuerUrl)));
  record("cold-rs256", await load(work, "broker: cold exchange, a new RS256 subject token each time (redis, rate limits on)", limitedBroker, "/token", { bodies: rsBodies }));
  await stopProcess(limitedBroker);
  // Where the cold exchange's time goes: the same broker once more under --cpu-prof, a short run.
  const profile = await profileColdExchange(work, { ...brokerEnv, REDIS_URL: redis.url, BROKER_RATE_LIMIT_CLIENT: unlimited, BROKER_RATE_LIMIT_WORKLOAD: unlimited }, freshBodies);
  await redis.stop();

  const naive = await startProcess(["--import", "tsx", "bench/floor-server.ts", "naive", "$PORT", benchJwks, BENCH_ISSUER], {}, join(work, "naive.log"));
  record("naive", await load(work, "floor: naive exchange handler", naive, "/token", { bodies: [body], warmUp: true }));
  await stopProcess(naive);
  // The peer: oidc-provider's client_credentials grant, ES256 JWT access tokens.
  const peer = await startProcess(
    ["--import", "tsx", "bench/oidc-provider-peer.ts", "$PORT", PEER_CLIENT_ID, PEER_CLIENT_SECRET, "https://demo.example.com", "demo:read"],
    { NODE_ENV: "production" },
    join(work, "oidc-provider.log"),
  );
  const peerBody = new URLSearchParams({ grant_type: "client_credentials", scope: "demo:read", resource: "https://demo.example.com" }).toString();
  const peerHeaders = { authorization: `Basic ${Buffer.from(`${PEER_CLIENT_ID}:${PEER_CLIENT_SECRET}`).toString("base64")}` };
  await checkPeerToken(peer, peerBody, peerHeaders);
  record("oidc-provider", await load(work, "peer: oidc-provider client_credentials, ES256 JWT", peer, "/token", { bodies: [peerBody], headers: peerHeaders, warmUp: true }));
  await stopProcess(peer);
  const svidFloor = await startProcess(["--import", "tsx", "bench/floor-server.ts", "svid", "$PORT"], {}, join(work, "svid-floor.log"));
  record("svid-floor", await load(work, "floor: CSR parse + sign with @peculiar/x509", svidFloor, "/svid/x509", { bodies: [svidBody], warmUp: true }));
  await stopProcess(svidFloor);

  const ratio = (a?: Result, b?: Result) => (a && b ? Math.round((a.requestsPerSecond / b.requestsPerSecond) * 100) / 100 : undefined);
  const summary = {
    "broker (memory) / naive floor": ratio(memo.memory, memo.naive),
    "broker (memory, a new subject token each time) / naive floor": ratio(memo["memory-fresh"], memo.naive),
    "cold exchange ES256 (redis, rate limits on) / naive floor (issue 14: >= 1.5)": ratio(memo["cold-es256"], memo.naive),
    "cold exchange ES256 (redis, rate limits on) / oidc-provider (issue 14: >= 1.7)": ratio(memo["cold-es256"], memo["oidc-provider"]),
    "cold exchange RS256 (redis, rate limits on) / naive floor": ratio(memo["cold-rs256"], memo.naive),
    "cold exchange RS256 (redis, rate limits on) / oidc-provider": ratio(memo["cold-rs256"], memo["oidc-provider"]),
    "broker (memory, cached) / oidc-provider": ratio(memo.memory, memo["oidc-provider"]),
    "naive floor / oidc-provider": ratio(memo.naive, memo["oidc-provider"]),
    "broker (redis) / broker (memory)": ratio(memo.redis, memo.memory),
    "broker (redis, single-use) / broker (memory)": ratio(memo["redis-replay"], memo.memory),
    "broker (redis, rate limits on) / broker (redis)": ratio(memo["redis-limits"], memo.redis),
    "X.509-SVID / @peculiar/x509 floor": ratio(memo.svid, memo["svid-floor"]),
    "p99 ms at half of max throughput": memo["memory-half"]?.latencyMs.p99,
    "added latency of the Redis checks, µs (c=1)":
      memo["memory-c1"] && memo["redis-c1"] ? Math.round(1e6 / memo["redis-c1"].requestsPerSecond - 1e6 / memo["memory-c1"].requestsPerSecond) : undefined,
    "added latency of the two rate-limit checks, µs (c=1)":
      memo["redis-c1"] && memo["redis-limits-c1"] ? Math.round(1e6 / memo["redis-limits-c1"].requestsPerSecond - 1e6 / memo["redis-c1"].requestsPerSecond) : undefined,
  };

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
      "peak RSS MB": r.peakRssMb,
    })),
  );
  for (const [name, value] of Object.entries(summary)) console.log(`${name}: ${value}`);
  printProfile(profile);
  console.log(`server logs: ${work}`);
  const resultsDir = join(ROOT, "bench/results");
  await mkdir(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const machine = { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGb: Math.round(totalmem() / 2 ** 30) };
  await writeFile(join(resultsDir, `${stamp}.json`), `${JSON.stringify({ machine, loadAverage: loadavg(), durationSeconds: DURATION, connections: CONNECTIONS, results, summary, stages: profile }, null, 2)}\n`);
  // A scenario whose answers were errors measured something else (a floor refusing every token
  // looks fast): its ratios are void, and the run says so by failing.
  const failed = results.filter((r) => r.errors > 0 || r.non2xx > 0);
  if (failed.length > 0) {
    console.error(`INVALID RUN: errors or non-2xx answers in ${failed.map((r) => r.scenario).join("; ")}: see the server logs`);
    process.exitCode = 1;
  }
}

await main();
