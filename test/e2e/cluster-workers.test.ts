/**
 * BROKER_WORKERS=2: one broker process group (a node:cluster primary and two workers sharing one
 * port) on a real redis-server, black-box over HTTP and signals. Which worker answered is read from
 * its log: every request's access line carries the request's X-Request-Id (sent by the test) and
 * the worker's pid; nothing is added to the answers. Each request goes on a fresh connection, so
 * the primary's round robin hands successive requests to different workers.
 *
 *   1. two distinct worker pids answer, neither the primary's;
 *   2. a token revoked (RFC 7009) through one worker is refused by the other;
 *   3. GET /metrics answered by either worker counts the exchanges of both;
 *   4. SIGHUP to the primary reaches both workers: a new policy is applied by each;
 *   5. a killed worker is replaced, and the broker answers throughout;
 *   6. SIGTERM: every worker drains and stops, the primary exits 0.
 * Then, apart: a crash loop makes the primary give up (exit 1); a worker that does not stop on
 * SIGTERM is killed past the bound (exit 1); a worker that cannot start stops the start; development material is generated once, by the primary; the refusals at start.
 */
import { randomUUID } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { encodeForm, eventually, GRANT_TYPE, GRANTS, OIDC_SUBJECT, startBrokerFixture, TOKEN_TYPES, type BrokerFixture } from "../support/broker-fixture.js";
import { runBrokerUntilExit, startBroker, type BrokerProcess } from "../support/broker-process.js";
import { startRedisServer, type RedisServerHandle } from "../support/redis-server.js";
import { ROOT } from "../support/repo-root.js";

interface Answer {
  readonly status: number;
  readonly text: string;
  readonly json: Record<string, unknown>;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The pid of the worker whose access line carries this request's id. */
  readonly pid: number;
}

/** One request on a connection of its own (`agent: false`, `Connection: close`), and the pid of the worker that answered it. */
async function ask(broker: Pick<BrokerProcess, "url" | "logRecords">, path: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Answer> {
  const requestId = `cluster-${randomUUID()}`;
  const body = init.form === undefined ? undefined : encodeForm(init.form);
  const headers: Record<string, string> = { ...init.headers, "x-request-id": requestId, connection: "close", ...(body === undefined ? {} : { "content-type": "application/x-www-form-urlencoded" }) };
  const { status, text, received } = await new Promise<{ status: number; text: string; received: Answer["headers"] }>((resolve, reject) => {
    const outgoing = request(`${broker.url}${path}`, { method: init.method ?? (body === undefined ? "GET" : "POST"), agent: false, headers }, (res) => {
      let received = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (received += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: received, received: res.headers }));
    });
    outgoing.on("error", reject);
    outgoing.end(body);
  });
  let pid: number | undefined;
  await eventually(() => (pid = pidOf(broker, requestId)) !== undefined, 5_000, `the access line of ${requestId}`);
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // /metrics is text.
  }
  return { status, text, json, headers: received, pid: pid as number };
}

function pidOf(broker: Pick<BrokerProcess, "logRecords">, requestId: string): number | undefined {
  const line = broker.logRecords().find((record) => record.requestId === requestId && typeof record.pid === "number");
  return line?.pid as number | undefined;
}

/** Asks until `done` holds for the answers so far (at most `tries` requests). */
async function askUntil(broker: BrokerProcess, next: () => Promise<Answer>, done: (answers: readonly Answer[]) => boolean, tries = 12): Promise<Answer[]> {
  const answers: Answer[] = [];
  while (answers.length < tries && !done(answers)) answers.push(await next());
  if (!done(answers)) throw new Error(`not reached in ${tries} requests: ${JSON.stringify(answers.map(({ status, pid }) => ({ status, pid })))}\n${broker.output.slice(-20).join("\n")}`);
  return answers;
}

const distinctPids = (answers: readonly Answer[]) => new Set(answers.map((answer) => answer.pid));

/** The primary's "all workers listening" line, once it is there. */
async function workersListening(broker: BrokerProcess): Promise<{ pids: number[]; primary: number }> {
  let line: Record<string, unknown> | undefined;
  await eventually(() => (line = broker.logRecords().find((record) => record.msg === "all workers listening")) !== undefined, 20_000, "all workers listening");
  return { pids: (line?.pids ?? []) as number[], primary: line?.pid as number };
}

/** Sum of every series of a counter in a Prometheus text exposition. */
function counterSum(exposition: string, name: string): number {
  return exposition
    .split("\n")
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
}

const reloadPolicy = {
  id: "e2e-cluster-reload",
  issuer: "oidc",
  condition: 'identity.subject == "reload-workload"',
  grant: { workload_id: "reload/workload", audiences: ["https://reload.example.com"], scopes: ["v1:read"], max_lifetime: "5m" },
};
const reloadIdentity = (subject: string) => ({ issuer: "oidc", profile: "oidc", iss: "https://oidc.test", subject });
const reloadFixtures = {
  policy_tests: [
    { name: "reload workload", now: "2030-01-01T00:00:00Z", identity: reloadIdentity("reload-workload"), request: { audiences: ["https://reload.example.com"], scopes: ["v1:read"] }, expect: { allow: true, policy: "e2e-cluster-reload" } },
    { name: "another subject", now: "2030-01-01T00:00:00Z", identity: reloadIdentity("someone-else"), request: { audiences: ["https://reload.example.com"] }, expect: { allow: false } },
  ],
};

let redis: RedisServerHandle;

beforeAll(async () => {
  redis = await startRedisServer();
}, 30_000);
afterAll(async () => {
  await redis?.stop();
});

describe("BROKER_WORKERS=2 with Redis", () => {
  let fx: BrokerFixture;
  let started: { pids: number[]; primary: number };
  const exchangeForm = async (subject = OIDC_SUBJECT, audience = "https://a.example.com") => ({ ...fx.form(await fx.issuers.oidc.mint({ sub: subject })), audience });

  beforeAll(async () => {
    fx = await startBrokerFixture({ env: { REDIS_URL: redis.url, BROKER_WORKERS: "2", BROKER_SHUTDOWN_GRACE: "5s" } });
    started = await workersListening(fx.broker);
  }, 60_000);
  afterAll(async () => {
    await fx?.close();
  });

  it("1. answers from two distinct worker processes, neither of them the primary", async () => {
    expect(started.pids).toHaveLength(2);
    const answers = await askUntil(fx.broker, () => ask(fx.broker, "/healthz"), (so) => distinctPids(so).size === 2);
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
    expect([...distinctPids(answers)].sort()).toEqual([...started.pids].sort());
    expect(started.pids).not.toContain(started.primary);
  });

  it("2. a token revoked through one worker is refused by the other", async () => {
    const issued = await ask(fx.broker, "/token", { form: { ...(await exchangeForm()), audience: GRANTS.oidc.audiences[0] } });
    expect(issued.status, issued.text).toBe(200);
    const token = issued.json.access_token as string;
    const revoked = await ask(fx.broker, "/revoke", { form: { token, token_type_hint: "access_token" } });
    expect(revoked.status, revoked.text).toBe(200);
    const reExchange = () => ask(fx.broker, "/token", { form: { grant_type: GRANT_TYPE, subject_token: token, subject_token_type: TOKEN_TYPES.accessToken, audience: GRANTS.oidc.audiences[0] } });
    const answers = await askUntil(fx.broker, reExchange, (so) => so.some((answer) => answer.pid !== revoked.pid));
    for (const answer of answers) {
      expect(answer.status, answer.text).toBe(400);
      expect(answer.json).toMatchObject({ error: "invalid_request", error_description: "subject_token has been revoked" });
    }
  });

  it("3. GET /metrics, whichever worker answers it, counts the exchanges of both", async () => {
    const before = await ask(fx.broker, "/metrics");
    expect(before.status).toBe(200);
    const exchanges = await askUntil(fx.broker, async () => ask(fx.broker, "/token", { form: await exchangeForm() }), (so) => distinctPids(so).size === 2);
    expect(exchanges.every((answer) => answer.status === 200)).toBe(true);
    for (const after of await askUntil(fx.broker, () => ask(fx.broker, "/metrics"), (so) => distinctPids(so).size === 2)) {
      expect(after.status).toBe(200);
      expect(counterSum(after.text, "broker_token_exchanges_total") - counterSum(before.text, "broker_token_exchanges_total")).toBe(exchanges.length);
      // A gauge every worker sets to 1 merges to 1 (aggregator first/max), not to the number of workers.
      expect(after.text).toMatch(/^broker_build_info\{[^}]*\} 1$/m);
      expect(after.text).toMatch(/^broker_policy_set_info\{[^}]*\} 1$/m);
    }
  });

  it("4. SIGHUP to the primary reaches every worker: a new policy is applied by both", async () => {
    const attempt = async () => ask(fx.broker, "/token", { form: { ...(await exchangeForm("reload-workload", "https://reload.example.com")), scope: "v1:read" } });
    expect((await attempt()).status).toBe(400);
    await fx.writePolicy("cluster-reload.policy.yaml", reloadPolicy);
    await fx.writePolicy("cluster-reload.test.yaml", reloadFixtures);
    fx.broker.signal("SIGHUP");
    const reloadedBy = () => new Set(fx.broker.logRecords().filter((record) => record.msg === "policies reloaded").map((record) => record.pid));
    await eventually(() => reloadedBy().size === 2, 15_000, "both workers reloaded");
    const answers = await askUntil(fx.broker, attempt, (so) => distinctPids(so).size === 2);
    for (const answer of answers) expect(answer.status, answer.text).toBe(200);
  });

  it("5. a killed worker is replaced, and the broker answers meanwhile", async () => {
    const [victim, survivor] = started.pids as [number, number];
    process.kill(victim, "SIGKILL");
    expect((await ask(fx.broker, "/healthz")).pid).toBe(survivor);
    await eventually(() => fx.broker.logRecords().some((record) => record.msg === "worker exited unexpectedly: replacing it" && record.workerPid === victim && record.signal === "SIGKILL"), 10_000, "the death noticed");
    const newcomer = () => fx.broker.logRecords().find((record) => record.msg === "listening" && typeof record.pid === "number" && !started.pids.includes(record.pid))?.pid as number | undefined;
    await eventually(() => newcomer() !== undefined, 20_000, "a replacement listening");
    const answers = await askUntil(fx.broker, () => ask(fx.broker, "/healthz"), (so) => so.some((answer) => answer.pid === newcomer()));
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
  });

  it("6. SIGTERM: every worker drains and stops, then the primary exits 0", async () => {
    expect(await fx.broker.stop("SIGTERM")).toBe(0);
    const stopped = fx.broker.logRecords().filter((record) => record.msg === "stopped");
    expect(stopped.filter((record) => record.worker !== undefined && record.outcome === "drained")).toHaveLength(2);
    expect(stopped.find((record) => record.worker === undefined)).toMatchObject({ exitCode: 0 });
  });
});

describe("BROKER_WORKERS=2: failures", () => {
  it("workers dying 5 times within 60 s: the primary gives up and exits 1", async () => {
    const fx = await startBrokerFixture({ env: { REDIS_URL: redis.url, BROKER_WORKERS: "2" } });
    try {
      await workersListening(fx.broker);
      const exited = () => new Set(fx.broker.logRecords().filter((record) => typeof record.workerPid === "number").map((record) => record.workerPid as number));
      const alive = () => fx.broker.logRecords().filter((record) => record.msg === "listening" && !exited().has(record.pid as number)).map((record) => record.pid as number);
      const killed = new Set<number>();
      const gaveUp = () => fx.broker.logRecords().some((record) => record.msg === "workers are crash-looping: giving up");
      await eventually(() => {
        for (const pid of alive()) {
          if (!killed.has(pid)) process.kill(pid, "SIGKILL");
          killed.add(pid);
        }
        return gaveUp();
      }, 40_000, "the primary giving up");
      expect(await fx.broker.stop("SIGTERM")).toBe(1);
      expect(fx.broker.logRecords().find((record) => record.msg === "workers are crash-looping: giving up")).toMatchObject({ deaths: 5, windowSeconds: 60 });
    } finally {
      await fx.close();
    }
  }, 60_000);

  it("SIGTERM with a worker that does not stop: killed past the grace period + 5 s, exit 1", async () => {
    const fx = await startBrokerFixture({ env: { REDIS_URL: redis.url, BROKER_WORKERS: "2", BROKER_SHUTDOWN_GRACE: "1s" } });
    try {
      const { pids } = await workersListening(fx.broker);
      // A stopped process cannot act on SIGTERM: it hangs as a worker stuck in a loop would.
      process.kill(pids[0] as number, "SIGSTOP");
      const signalled = performance.now();
      expect(await fx.broker.stop("SIGTERM")).toBe(1);
      expect(performance.now() - signalled).toBeGreaterThanOrEqual(5_500);
      expect(fx.broker.logRecords().find((record) => record.msg === "workers did not stop within the bound: killing them")).toMatchObject({ boundMs: 6_000 });
      expect(fx.broker.logRecords().filter((record) => record.msg === "stopped" && record.worker !== undefined)).toHaveLength(1);
    } finally {
      await fx.close();
    }
  }, 40_000);

  it("a worker that cannot start stops the start: exit 1", async () => {
    const keys = await mkdtemp(join(tmpdir(), "broker-cluster-keys-"));
    try {
      const { code, output } = await runBrokerUntilExit({ BROKER_WORKERS: "2", REDIS_URL: redis.url, BROKER_KEYS_DIR: keys, BROKER_POLICY_DIR: join(keys, "no-such-policies") });
      expect(code, output.join("\n")).toBe(1);
      expect(output.some((line) => line.includes('"msg":"broker failed to start"') && line.includes('"worker"'))).toBe(true);
      expect(output.some((line) => line.includes('"msg":"a worker failed to start: stopping the others"'))).toBe(true);
    } finally {
      await rm(keys, { recursive: true, force: true });
    }
  }, 30_000);

  it("without REDIS_URL, or with a bad count, the start is refused with the reason", async () => {
    const noRedis = await runBrokerUntilExit({ BROKER_WORKERS: "2" });
    expect(noRedis.code).toBe(2);
    expect(noRedis.output.join("\n")).toMatch(/BROKER_WORKERS: 2 workers need the shared store: set REDIS_URL/);
    const bad = await runBrokerUntilExit({ BROKER_WORKERS: "65", REDIS_URL: redis.url });
    expect(bad.code).toBe(2);
    expect(bad.output.join("\n")).toContain("BROKER_WORKERS: must be auto or an integer 1–64");
  });
});

describe("BROKER_WORKERS=2: a development start's first run", () => {
  let dir: string;
  let broker: BrokerProcess | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "broker-cluster-dev-"));
    await mkdir(join(dir, "policies"));
    const shipped = parse(await readFile(join(ROOT, "policies", "issuers.yaml"), "utf8")) as { issuers: Record<string, unknown>[] };
    await writeFile(join(dir, "policies", "issuers.yaml"), stringify({ issuers: shipped.issuers.filter((issuer) => issuer.id === "local-dev") }));
    for (const file of ["local-dev.policy.yaml", "local-dev.test.yaml"]) await copyFile(join(ROOT, "policies", file), join(dir, "policies", file));
  });
  afterAll(async () => {
    await broker?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("generates the development material once, in the primary, and both workers use it (one admin secret)", async () => {
    broker = await startBroker({ BROKER_WORKERS: "2", REDIS_URL: redis.url, BROKER_KEYS_DIR: join(dir, "keys"), BROKER_POLICY_DIR: join(dir, "policies"), BROKER_DPOP_NONCE: "required" });
    await workersListening(broker);
    const generated = broker.logRecords().filter((record) => typeof record.msg === "string" && record.msg.includes("GENERATED"));
    expect(generated.map((record) => (record.msg as string).split(":")[0]).sort()).toEqual(["DEVELOPMENT ADMIN SECRET GENERATED", "DEVELOPMENT ISSUER KEY GENERATED", "DEVELOPMENT ROOT CA GENERATED", "DEVELOPMENT SIGNING KEY GENERATED"]);
    expect(generated.every((record) => record.worker === undefined)).toBe(true);
    const secret = (await readFile(join(dir, "keys", "dev-admin-secret"), "utf8")).trim();
    const listing = async () => {
      const answer = await ask(broker as BrokerProcess, "/admin/revocations", { headers: { authorization: `Bearer ${secret}` } });
      expect(answer.status, answer.text).toBe(200);
      return answer;
    };
    await askUntil(broker, listing, (so) => distinctPids(so).size === 2);
  }, 60_000);

  it("BROKER_DPOP_NONCE=required without a secret: the primary gives every worker one, so their nonces agree", async () => {
    const started = broker as BrokerProcess;
    expect(started.logRecords().some((record) => typeof record.msg === "string" && record.msg.startsWith("BROKER_DPOP_NONCE=required without BROKER_DPOP_NONCE_SECRET: the workers share a secret"))).toBe(true);
    // Every /token answer carries the current nonce (RFC 9449 §8), a refusal too. Same 60 s window: same nonce on every worker.
    // Grouped by window: the requests may run across a window's end (seen in CI at hh:mm:00), and the
    // nonce then changes on every worker alike.
    const nonceOf = (answer: Answer) => String(answer.headers["dpop-nonce"]);
    const byWindow = (answers: readonly Answer[]) => {
      const windows = new Map<string, Answer[]>();
      for (const answer of answers) {
        const window = nonceOf(answer).split(".")[0] ?? "";
        windows.set(window, [...(windows.get(window) ?? []), answer]);
      }
      return [...windows.values()];
    };
    const answers = await askUntil(started, () => ask(started, "/token", { form: {} }), (so) => byWindow(so).some((window) => distinctPids(window).size === 2), 20);
    expect(answers.every((answer) => answer.status === 400)).toBe(true);
    for (const window of byWindow(answers)) expect(new Set(window.map(nonceOf)).size).toBe(1);
  });
});
