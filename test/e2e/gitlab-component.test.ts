/**
 * The GitLab CI/CD component (templates/exchange.yml) kept honest without GitLab: its `spec:
 * inputs` header and job are read as GitLab reads them (two YAML documents); every `$[[ inputs.x ]]`
 * names a declared input; the inputs are interpolated as GitLab does (whole values, at pipeline
 * creation), and the job's before_script, script and after_script then run in bash exactly as a
 * runner runs them: with the job's variables, BROKER_ID_TOKEN an ID token minted by a GitLab test
 * issuer, the CLI pointed at the compiled CLI (the `cli` input), against a real broker process.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { GRANTS, startBrokerFixture, type BrokerFixture } from "../support/broker-fixture.js";
import { CLI_ARGS } from "../support/compiled-broker.js";
import { ROOT } from "../support/repo-root.js";
import { gitlabCiClaims } from "../support/test-issuer.js";

interface Input {
  readonly description?: string;
  readonly default?: string | number;
  readonly type?: string;
}
interface Job {
  readonly image: string;
  readonly id_tokens: Record<string, { aud: string }>;
  readonly variables: Record<string, string>;
  readonly before_script: string[];
  readonly after_script: string[];
}

const HIDDEN_JOB = ".credential-broker-exchange";
let fx: BrokerFixture;
let dir: string;
let text: string;
let inputs: Record<string, Input>;

beforeAll(async () => {
  fx = await startBrokerFixture();
  dir = await mkdtemp(join(tmpdir(), "broker-gitlab-component-"));
  text = await readFile(join(ROOT, "templates", "exchange.yml"), "utf8");
  const [header] = parseAllDocuments(text);
  inputs = (header?.toJS() as { spec: { inputs: Record<string, Input> } }).spec.inputs;
}, 60_000);
afterAll(async () => {
  await fx?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** GitLab's interpolation of `$[[ inputs.name ]]`: the input's value (or default), as text, before YAML is read. */
function interpolate(given: Record<string, string | number>): Job {
  const body = text.slice(text.indexOf("\n---\n") + 5).replace(/\$\[\[\s*inputs\.([a-z_]+)\s*\]\]/g, (_match, name: string) => {
    const value = given[name] ?? inputs[name]?.default;
    if (value === undefined) throw new Error(`input ${name} is required and was not given`);
    return String(value);
  });
  const [document] = parseAllDocuments(body);
  return (document?.toJS() as Record<string, Job>)[HIDDEN_JOB] as Job;
}

/** Runs the job's scripts as a runner does: one bash per section, the job's variables and the ID token in the environment. */
async function runJob(job: Job, idToken: string, script: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { PATH: process.env.PATH ?? "", CI_BUILDS_DIR: dir, ...job.variables, BROKER_ID_TOKEN: idToken };
  // Variables that name others ($CI_BUILDS_DIR) are expanded by the runner before the job starts.
  const expanded = Object.fromEntries(Object.entries(env).map(([name, value]) => [name, value.replace(/\$(\w+)/g, (_m, other: string) => env[other as keyof typeof env] ?? "")]));
  const run = (lines: readonly string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile("bash", ["-c", lines.join("\n")], { env: expanded, cwd: dir }, (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }));
    });
  const before = await run(job.before_script);
  if (before.code !== 0) return before;
  const main = await run([script]);
  await run(job.after_script);
  return { code: main.code, stdout: before.stdout + main.stdout, stderr: before.stderr + main.stderr };
}

describe("the GitLab CI component", () => {
  it("uses only declared inputs, and declares only inputs it uses", () => {
    const used = new Set([...text.matchAll(/\$\[\[\s*inputs\.([a-z_]+)\s*\]\]/g)].map((match) => match[1]));
    expect(used).toEqual(new Set(Object.keys(inputs)));
    for (const [name, input] of Object.entries(inputs)) expect(input.description, name).toBeTruthy();
    expect(() => interpolate({ broker_url: "https://broker.example.com" })).toThrow("input image is required");
    const job = interpolate({ broker_url: "https://broker.example.com", image: "ghcr.io/acme/credential-broker:0.1.0" });
    expect(job.image).toBe("ghcr.io/acme/credential-broker:0.1.0");
    expect(job.id_tokens.BROKER_ID_TOKEN?.aud).toBe("$BROKER_URL");
    expect(job.variables.BROKER_URL).toBe("https://broker.example.com");
  });

  it("exchanges the job's ID token before its script, hands the script a 0600 file, and removes it after", async () => {
    const job = interpolate({
      broker_url: fx.url,
      audience: GRANTS.gitlab.audiences[0] ?? "",
      scope: "artifacts:pull",
      lifetime: 300,
      image: "unused-here",
      cli: `node ${CLI_ARGS.join(" ")}`,
    });
    const idToken = await fx.issuers.gitlab.mint(gitlabCiClaims(), { alg: "RS256" });
    const result = await runJob(job, idToken, 'stat -c %a "$BROKER_TOKEN_FILE"; cat "$BROKER_TOKEN_FILE" > "$CI_BUILDS_DIR/seen"');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim().split("\n").at(-1)).toBe("600");
    const token = (await readFile(join(dir, "seen"), "utf8")).trim();
    const jwks = (await (await fetch(`${fx.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: fx.url, audience: GRANTS.gitlab.audiences[0], typ: "at+jwt" });
    expect(payload.scope).toBe("artifacts:pull");
    expect(result.stdout + result.stderr).not.toContain(token);
    expect(result.stdout + result.stderr).not.toContain(idToken);
    await expect(readFile(join(dir, ".credential-broker-token"))).rejects.toThrow();
  });

  it("fails the job before its script when the broker refuses (exit 2), printing no token", async () => {
    const job = interpolate({ broker_url: fx.url, audience: "https://not-granted.example.com", image: "unused-here", cli: `node ${CLI_ARGS.join(" ")}` });
    const idToken = await fx.issuers.gitlab.mint(gitlabCiClaims(), { alg: "RS256" });
    const result = await runJob(job, idToken, "echo script-ran");
    expect(result.code).toBe(2);
    expect(result.stdout).not.toContain("script-ran");
    expect(result.stderr).toMatch(/broker refused the exchange \(400 invalid_target\)/);
    expect(result.stderr).not.toContain(idToken);
  });
});
