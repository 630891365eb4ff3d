/**
 * `npm run bench`: drives real server processes with autocannon (a separate process) on
 * 127.0.0.1 and prints req/s, latency, errors, server CPU per request and peak RSS per scenario,
 * with broker/floor ratios measured in the same run. Results also go to bench/results/.
 *
 * Env: BENCH_DURATION (s, default 10), BENCH_CONNECTIONS (default 50). Needs redis-server.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { cpus, totalmem } from "node:os";
import { cp, mkdir, mkdtemp, open, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { mintDevToken } from "../src/cli/dev-token.js";
import { devIssuerPaths } from "../src/credentials/dev-material.js";
import { freePort } from "../test/support/broker-process.js";
import { startRedisServer } from "../test/support/redis-server.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const run = promisify(execFile);

interface Result {
  scenario: string;
  requestsPerSecond: number;
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

/** utime + stime of a process, in microseconds (Linux /proc). */
async function cpuMicros(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]?.split(" ") ?? [];
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1_000_000) / 100; // USER_HZ is 100 on Linux
}

async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 102.4) / 10;
}

interface LoadOptions {
  readonly body?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly connections?: number;
  readonly durationSeconds?: number;
}

async function load(scenario: string, server: Server, path: string, options: LoadOptions = {}): Promise<Result> {
  const pid = server.child.pid ?? 0;
  const connections = options.connections ?? CONNECTIONS;
  const args = [join(ROOT, "node_modules/autocannon/autocannon.js"), "-j", "-c", String(connections), "-d", String(options.durationSeconds ?? DURATION)];
  if (options.body !== undefined) args.push("-m", "POST", "-H", "content-type=application/x-www-form-urlencoded", "-b", options.body);
  for (const [name, value] of Object.entries(options.headers ?? {})) args.push("-H", `${name}=${value}`);
  args.push(`http://127.0.0.1:${server.port}${path}`);
  const before = await cpuMicros(pid);
  const { stdout } = await run(process.execPath, args, { maxBuffer: 64 * 1024 * 1024 });
  const after = await cpuMicros(pid);
  const report = JSON.parse(stdout) as {
    requests: { average: number; total: number };
    latency: { p50: number; p99: number; max: number };
    errors: number;
    non2xx: number;
  };
  return {
    scenario: `${scenario} c=${connections}`,
    requestsPerSecond: Math.round(report.requests.average),
    latencyMs: { p50: report.latency.p50, p99: report.latency.p99, max: report.latency.max },
    errors: report.errors,
    non2xx: report.non2xx,
    cpuMicrosPerRequest: Math.round((after - before) / Math.max(1, report.requests.total)),
    peakRssMb: await peakRssMb(pid),
  };
}

function exchangeBody(token: string): string {
  return new URLSearchParams({
    grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
    subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
    subject_token: token,
    audience: "https://demo.example.com",
    scope: "demo:read",
  }).toString();
}

const INTROSPECTOR_POLICY = (issuerUrl: string) => `id: bench-introspector
issuer: local-dev
condition: identity.subject == "introspector"
grant:
  workload_id: resource-server
  audiences: ["${issuerUrl}"]
  scopes: [broker:introspect]
  max_lifetime: 1h
`;

async function main(): Promise<void> {
  await run("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: ROOT });
  const work = await mkdtemp(join(tmpdir(), "broker-bench-"));
  const keysDir = join(work, "keys");
  const policyDir = join(work, "policies");
  const port = await freePort();
  const issuerUrl = `http://127.0.0.1:${port}`;
  await mkdir(policyDir);
  await cp(join(ROOT, "policies/local-dev.policy.yaml"), join(policyDir, "local-dev.policy.yaml"));
  await writeFile(join(policyDir, "introspector.policy.yaml"), INTROSPECTOR_POLICY(issuerUrl));
  await writeFile(
    join(policyDir, "issuers.yaml"),
    `issuers:\n  - id: local-dev\n    issuer: https://dev-issuer.invalid\n    profile: oidc\n    keys: { jwks_file: ${devIssuerPaths(keysDir).jwks} }\n    algorithms: [ES256]\n    max_token_age: 1h\n`,
  );
  const brokerEnv = {
    BROKER_PORT: String(port),
    BROKER_KEYS_DIR: keysDir,
    BROKER_POLICY_DIR: policyDir,
    LOG_LEVEL: "info",
    NODE_ENV: "production",
    BROKER_DEV_KEYS: "on",
    BROKER_WATCH_POLICIES: "false",
  };

  const results: Result[] = [];
  const hello = await startProcess(["--import", "tsx", "bench/floor-server.ts", "hello", "$PORT"], {}, join(work, "hello.log"));
  results.push(await load("floor: hono hello world", hello, "/"));
  hello.child.kill();

  // Memory store first: its first start also generates the keys the later runs share.
  const memory = await startProcess(["dist/main.js"], brokerEnv, join(work, "broker-memory.log"));
  const subjectToken = await mintDevToken({ keysDir, subject: "demo-workload", audience: issuerUrl, lifetimeSeconds: 3000, claims: {} });
  const body = exchangeBody(subjectToken);
  results.push(await load("broker: token exchange (memory)", memory, "/token", { body }));
  results.push(await load("broker: token exchange (memory)", memory, "/token", { body, connections: 1, durationSeconds: 5 }));
  memory.child.kill();

  const redis = await startRedisServer();
  const redisBroker = await startProcess(["dist/main.js"], { ...brokerEnv, REDIS_URL: redis.url }, join(work, "broker-redis.log"));
  results.push(await load("broker: token exchange (redis)", redisBroker, "/token", { body }));
  results.push(await load("broker: token exchange (redis)", redisBroker, "/token", { body, connections: 1, durationSeconds: 5 }));
  const introspectorToken = await mintDevToken({ keysDir, subject: "introspector", audience: issuerUrl, lifetimeSeconds: 3000, claims: {} });
  const bearer = await exchangeFor(redisBroker, introspectorToken, issuerUrl, "broker:introspect");
  const issued = await exchangeFor(redisBroker, subjectToken, "https://demo.example.com", "demo:read");
  results.push(
    await load("broker: introspection (redis)", redisBroker, "/introspect", {
      body: new URLSearchParams({ token: issued }).toString(),
      headers: { authorization: `Bearer ${bearer}` },
    }),
  );
  redisBroker.child.kill();
  await redis.stop();

  const naive = await startProcess(["--import", "tsx", "bench/floor-server.ts", "naive", "$PORT", devIssuerPaths(keysDir).jwks], {}, join(work, "naive.log"));
  results.push(await load("floor: naive exchange handler", naive, "/token", { body }));
  naive.child.kill();

  const find = (prefix: string) => results.find((result) => result.scenario.startsWith(prefix) && result.scenario.endsWith(`c=${CONNECTIONS}`));
  const ratio = (a: Result | undefined, b: Result | undefined) => (a && b ? Math.round((a.requestsPerSecond / b.requestsPerSecond) * 100) / 100 : undefined);
  const ratios = {
    "broker (memory) / naive floor": ratio(find("broker: token exchange (memory)"), find("floor: naive")),
    "broker (redis) / broker (memory)": ratio(find("broker: token exchange (redis)"), find("broker: token exchange (memory)")),
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
  for (const [name, value] of Object.entries(ratios)) console.log(`${name} (req/s): ${value}`);
  console.log(`server logs: ${work}`);
  const resultsDir = join(ROOT, "bench/results");
  await mkdir(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const machine = { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGb: Math.round(totalmem() / 2 ** 30) };
  await writeFile(join(resultsDir, `${stamp}.json`), `${JSON.stringify({ machine, durationSeconds: DURATION, connections: CONNECTIONS, results, ratios }, null, 2)}\n`);
}

/** One exchange through the running broker, for tokens the scenarios need. */
async function exchangeFor(server: Server, subjectToken: string, audience: string, scope: string): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${server.port}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
      subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
      subject_token: subjectToken,
      audience,
      scope,
    }),
  });
  const json = (await response.json()) as { access_token?: string; error?: string };
  if (!json.access_token) throw new Error(`exchange for ${audience} failed: ${JSON.stringify(json)}`);
  return json.access_token;
}

await main();
