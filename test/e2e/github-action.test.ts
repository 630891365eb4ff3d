/**
 * The GitHub Action (action.yml) run the way the runner runs a JavaScript action: `node
 * action/dist/index.mjs` (the committed bundle `runs.main` names) with the inputs as
 * `INPUT_<NAME>` variables, `GITHUB_OUTPUT` a file the step's outputs are appended to, and the
 * OIDC request variables pointing at a fake runner token endpoint on loopback. The broker is a real
 * process. Also: the bundle is exactly what `npm run build:action` makes from src/ (never stale), and
 * action.yml's inputs are the ones the entry point reads.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { GRANTS, startBrokerFixture, type BrokerFixture } from "../support/broker-fixture.js";
import { startFakeGithubRunner, type FakeGithubRunner } from "../support/fake-github-runner.js";
import { ROOT } from "../support/repo-root.js";
import { githubActionsClaims } from "../support/test-issuer.js";

const REQUEST_TOKEN = "runner-request-token-action-0123456789";
const ENTRY = join(ROOT, "action", "dist", "index.mjs");

let fx: BrokerFixture;
let runner: FakeGithubRunner;
let dir: string;

beforeAll(async () => {
  fx = await startBrokerFixture();
  dir = await mkdtemp(join(tmpdir(), "broker-action-"));
  runner = await startFakeGithubRunner(REQUEST_TOKEN, (audience) => fx.issuers.github.mint(githubActionsClaims({}, { aud: audience }), { alg: "RS256" }));
}, 60_000);
afterAll(async () => {
  runner?.close();
  await fx?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs the action's entry point as the runner would: returns its exit code, stdout and the outputs it set. */
async function runAction(inputs: Record<string, string>, requestToken = REQUEST_TOKEN) {
  const outputFile = join(dir, `output-${Math.random().toString(36).slice(2)}`);
  await writeFile(outputFile, "");
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    GITHUB_ACTIONS: "true",
    GITHUB_OUTPUT: outputFile,
    GITHUB_WORKSPACE: dir,
    RUNNER_TEMP: dir,
    ACTIONS_ID_TOKEN_REQUEST_URL: runner.requestUrl,
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: requestToken,
    // The runner passes every declared input, defaults applied, as INPUT_<NAME> (hyphens kept).
    "INPUT_RETRIES": "2",
    ...Object.fromEntries(Object.entries(inputs).map(([name, value]) => [`INPUT_${name.toUpperCase()}`, value])),
  };
  const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile(process.execPath, [ENTRY], { cwd: dir, env }, (error, out) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout: out }));
  });
  return { code, stdout, outputs: parseOutputs(await readFile(outputFile, "utf8")) };
}

/** The runner's reading of GITHUB_OUTPUT: `name<<DELIMITER`, the value lines, `DELIMITER`. */
function parseOutputs(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const match = /^([\w-]+)<<(.+)$/.exec(lines[i] ?? "");
    if (!match) continue;
    const [, name = "", delimiter] = match;
    const end = lines.indexOf(delimiter ?? "", i + 1);
    expect(end, `unterminated output ${name}`).toBeGreaterThan(i);
    outputs[name] = lines.slice(i + 1, end).join("\n");
    i = end;
  }
  return outputs;
}

async function verify(token: string) {
  const jwks = (await (await fetch(`${fx.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
  return (await jwtVerify(token, createLocalJWKSet(jwks), { issuer: fx.url, audience: GRANTS.github.audiences[0], typ: "at+jwt" })).payload;
}

describe("the GitHub Action", () => {
  it("is the bundle npm run build:action makes from src/ today", async () => {
    const fresh = await build({
      entryPoints: [join(ROOT, "src", "cli", "github-action-main.ts")],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      legalComments: "eof",
      write: false,
      outfile: ENTRY,
      absWorkingDir: ROOT,
    });
    expect(fresh.outputFiles[0]?.text === (await readFile(ENTRY, "utf8")), "action/dist/index.mjs is stale: run npm run build:action").toBe(true);
  });

  it("declares in action.yml exactly the inputs its entry point reads, and runs that entry point", async () => {
    const action = parse(await readFile(join(ROOT, "action.yml"), "utf8")) as { inputs: Record<string, unknown>; runs: { using: string; main: string } };
    expect(action.runs).toEqual({ using: "node24", main: "action/dist/index.mjs" });
    const source = await readFile(join(ROOT, "src", "cli", "github-action.ts"), "utf8");
    const read = [...source.matchAll(/(?:input|seconds)\(env, "([a-z-]+)"/g)].map((match) => match[1]);
    expect(new Set(read)).toEqual(new Set(Object.keys(action.inputs)));
  });

  it("exchanges the job's OIDC token and sets the masked `token` output", async () => {
    const { code, stdout, outputs } = await runAction({ "BROKER-URL": fx.url, AUDIENCE: GRANTS.github.audiences[0], SCOPE: "deploy:read", LIFETIME: "300" });
    expect(code, stdout).toBe(0);
    const token = outputs.token ?? "";
    expect((await verify(token)).scope).toBe("deploy:read");
    expect(Number(outputs["expires-in"])).toBeLessThanOrEqual(300);
    // The mask comes before anything else could print it, and stdout carries masks only.
    expect(stdout).toContain(`::add-mask::${token}`);
    expect(stdout.split("\n").filter(Boolean).every((line) => line.startsWith("::add-mask::"))).toBe(true);
  });

  it("writes the credential to token-file with mode 0600 instead, and says where", async () => {
    const { code, outputs } = await runAction({ "BROKER-URL": fx.url, AUDIENCE: GRANTS.github.audiences[0], "TOKEN-FILE": "broker-token" });
    expect(code).toBe(0);
    expect(outputs.token).toBeUndefined();
    expect(outputs["token-file"]).toBe(join(dir, "broker-token"));
    expect((await stat(join(dir, "broker-token"))).mode & 0o777).toBe(0o600);
    await verify((await readFile(join(dir, "broker-token"), "utf8")).trim());
  });

  it("fails with ::error:: and failure-kind refused or usage, and no token anywhere", async () => {
    const refused = await runAction({ "BROKER-URL": fx.url, AUDIENCE: "https://not-granted.example.com" });
    expect(refused.code).toBe(1);
    expect(refused.outputs["failure-kind"]).toBe("refused");
    expect(refused.stdout).toMatch(/^::error title=credential broker \(refused\)::broker refused the exchange \(400 invalid_target\)/m);
    expect(refused.outputs.token).toBeUndefined();

    const denied = await runAction({ "BROKER-URL": fx.url, AUDIENCE: GRANTS.github.audiences[0] }, "wrong-request-token");
    expect(denied.code).toBe(1);
    expect(denied.outputs["failure-kind"]).toBe("refused");
    expect(denied.stdout).toContain("id-token: write");
    expect(denied.stdout).not.toContain("wrong-request-token");

    const missing = await runAction({ AUDIENCE: GRANTS.github.audiences[0] });
    expect(missing.outputs["failure-kind"]).toBe("usage");
    expect(missing.stdout).toContain("input broker-url is required");
  });
});
