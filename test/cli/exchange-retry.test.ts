/**
 * `broker exchange` failure handling without a network: which answers are refusals, outages or
 * usage errors; Retry-After honoured and bounded; a fresh subject token per attempt; `--out`
 * checked before any token is asked for. The real CLI process is in test/e2e/exchange-cli.test.ts.
 */
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runExchange, type ExchangeDeps, type ExchangeRequest } from "../../src/cli/exchange-client.js";
import { ExchangeFailure, failureKindOf, retryAfterSeconds } from "../../src/cli/exchange-failure.js";

const BROKER = "https://broker.test";
const RUNNER = "https://runner.test/_apis/token?api-version=2.0";
const request: ExchangeRequest = { broker: BROKER, source: { github: true }, audiences: ["https://a.example"], subjectTokenType: "urn:ietf:params:oauth:token-type:jwt" };

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "exchange-retry-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

/** A GitHub runner that hands out token-1, token-2, ... and a broker that answers from `answers` in turn. */
function fakes(answers: readonly (Response | Error)[]) {
  const subjects: string[] = [];
  const sleeps: number[] = [];
  const notes: string[] = [];
  let runnerCalls = 0;
  let next = 0;
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    if (url.startsWith("https://runner.test/")) return json(200, { value: `token-${++runnerCalls}` });
    if (url.endsWith("/.well-known/oauth-authorization-server")) return json(200, { issuer: BROKER });
    subjects.push(new URLSearchParams(String(init?.body)).get("subject_token") ?? "");
    const answer = answers[next++] ?? json(200, { access_token: "issued", expires_in: 60 });
    if (answer instanceof Error) throw answer;
    return answer;
  };
  const out: string[] = [];
  const deps: ExchangeDeps = {
    fetch,
    env: { ACTIONS_ID_TOKEN_REQUEST_URL: RUNNER, ACTIONS_ID_TOKEN_REQUEST_TOKEN: "request-token" },
    stdout: (text) => out.push(text),
    sleep: async (ms) => void sleeps.push(ms),
    note: (line) => notes.push(line),
    random: () => 0.5,
  };
  return { deps, subjects, sleeps, notes, out, runnerCalls: () => runnerCalls };
}

async function failure(promise: Promise<unknown>): Promise<ExchangeFailure> {
  const error = await promise.then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(ExchangeFailure);
  return error as ExchangeFailure;
}

const unavailable = (headers: Record<string, string> = {}) => json(503, { error: "temporarily_unavailable" }, headers);
const networkDown = () => Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNREFUSED" } });

describe("broker exchange: failures and retries", () => {
  it("classifies answers: 429 and 502-504 are outages, other 4xx refusals, other 5xx failures", () => {
    expect([429, 502, 503, 504].map(failureKindOf)).toEqual(["unavailable", "unavailable", "unavailable", "unavailable"]);
    expect([400, 401, 403, 404].map(failureKindOf)).toEqual(["refused", "refused", "refused", "refused"]);
    expect([500, 501].map(failureKindOf)).toEqual(["failed", "failed"]);
  });

  it("reads Retry-After as seconds or an HTTP-date (RFC 9110 §10.2.3)", () => {
    const now = Date.parse("2026-12-04T12:00:00Z");
    expect(retryAfterSeconds("7", now)).toBe(7);
    expect(retryAfterSeconds("Fri, 04 Dec 2026 12:00:30 GMT", now)).toBe(30);
    expect(retryAfterSeconds("Fri, 04 Dec 2026 11:00:00 GMT", now)).toBe(0);
    expect(retryAfterSeconds("soon", now)).toBeUndefined();
    expect(retryAfterSeconds(null, now)).toBeUndefined();
  });

  it("waits what Retry-After asks, then succeeds, with a new OIDC token from the runner for each attempt", async () => {
    const fx = fakes([unavailable({ "retry-after": "2" })]);
    await expect(runExchange(request, fx.deps)).resolves.toEqual({ expiresIn: 60 });
    expect(fx.sleeps).toEqual([2000]);
    expect(fx.subjects).toEqual(["token-1", "token-2"]);
    expect(fx.notes[0]).toMatch(/503 temporarily_unavailable.*retry 1 of 2 in 2\.0 s/);
    expect(fx.out.at(-1)).toBe("issued\n");
  });

  it("backs off exponentially without Retry-After and gives up as unavailable after the retries", async () => {
    const fx = fakes([networkDown(), networkDown(), networkDown(), networkDown()]);
    const error = await failure(runExchange(request, fx.deps));
    expect(error.kind).toBe("unavailable");
    expect(error.message).toContain("ECONNREFUSED");
    expect(fx.sleeps).toEqual([1000, 2000]);
    expect(fx.subjects).toHaveLength(3);
  });

  it("does not wait longer than it may: a Retry-After past 30 s ends at once, saying how long to wait", async () => {
    const fx = fakes([json(429, { error: "temporarily_unavailable" }, { "retry-after": "120" })]);
    const error = await failure(runExchange(request, fx.deps));
    expect(error.kind).toBe("unavailable");
    expect(error.retryAfterSeconds).toBe(120);
    expect(error.message).toContain("retry after 120 s");
    expect(fx.sleeps).toEqual([]);
  });

  it("never retries a refusal or an unexpected answer", async () => {
    const refused = fakes([json(400, { error: "invalid_target", error_description: "not granted" })]);
    expect((await failure(runExchange(request, refused.deps))).kind).toBe("refused");
    expect(refused.subjects).toHaveLength(1);
    const broken = fakes([json(500, { error: "server_error" })]);
    expect((await failure(runExchange(request, broken.deps))).kind).toBe("failed");
    expect(broken.subjects).toHaveLength(1);
  });

  it("checks --out before asking for any token: a missing folder, a directory, a read-only folder", async () => {
    const readOnly = join(dir, "read-only");
    await mkdir(readOnly);
    await chmod(readOnly, 0o500);
    const aFile = join(dir, "a-file");
    await writeFile(aFile, "");
    // root writes through a 0500 folder, so that case runs only as another user; a file's "folder" fails for everyone.
    const targets = [join(dir, "missing", "token"), dir, join(aFile, "token"), ...(process.getuid?.() === 0 ? [] : [join(readOnly, "token")])];
    for (const out of targets) {
      const fx = fakes([]);
      const error = await failure(runExchange({ ...request, out }, fx.deps));
      expect(error.kind).toBe("usage");
      expect(error.message).toContain("nothing was exchanged");
      expect(fx.runnerCalls()).toBe(0);
      expect(fx.subjects).toEqual([]);
    }
    const fx = fakes([]);
    await runExchange({ ...request, out: join(dir, "token") }, fx.deps);
    expect((await readdir(dir)).filter((name) => name.includes(".probe"))).toEqual([]);
  });
});
