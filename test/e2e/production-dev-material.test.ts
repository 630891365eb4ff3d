/**
 * NODE_ENV=production on a folder that once ran in development (issue 11, finding 6), with real
 * broker processes on one config folder:
 *
 * 1. a development start generates the development issuer key, signing key, root CA and admin secret;
 * 2. a production start on the same folder refuses to start: exit code 1, one log line per piece
 *    of development material (the trusted development issuer, the signing key, the CA, the admin secret);
 * 3. once the operator has removed the issuer, rotated the development key out with `broker keys`
 *    and removed keys/ca and keys/dev-admin-secret, the production start succeeds (the check is about that material, not
 *    about the folder's past).
 */
import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { exportJWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { runBrokerUntilExit, startBroker } from "../support/broker-process.js";
import { CLI_ARGS } from "../support/compiled-broker.js";
import { ROOT } from "../support/repo-root.js";


let dir: string;
let env: Record<string, string>;

/** The shipped issuers.yaml's development entry, as a new checkout has it. */
async function shippedLocalDevEntry(): Promise<Record<string, unknown>> {
  const shipped = parse(await readFile(join(ROOT, "policies", "issuers.yaml"), "utf8")) as { issuers: Record<string, unknown>[] };
  const entry = shipped.issuers.find((issuer) => issuer.id === "local-dev");
  if (entry === undefined) throw new Error("policies/issuers.yaml has no local-dev entry");
  return entry;
}

async function keysCli(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [...CLI_ARGS, "keys", ...args, "--dir", join(dir, "keys")], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "" },
  });
  return stdout;
}

const CI_ENTRY = { id: "ci", issuer: "https://ci.example.com", profile: "oidc", keys: { jwks_file: "./ci-jwks.json" }, algorithms: ["ES256"] };
const CI_POLICY = { id: "ci", issuer: "ci", condition: 'identity.subject == "job"', grant: { workload_id: "ci/job", audiences: ["https://a.example.com"], max_lifetime: "5m" } };
/** The ci policy's fixtures: the broker puts a policy set in force only with an allow and a deny for each policy. */
const ciCase = (subject: string, expect: object) => ({ name: subject, now: "2030-01-01T00:00:00Z", identity: { issuer: "ci", profile: "oidc", iss: "https://ci.example.com", subject }, request: { audiences: ["https://a.example.com"] }, expect });
const CI_FIXTURES = { policy_tests: [ciCase("job", { allow: true, policy: "ci" }), ciCase("another-job", { allow: false })] };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "broker-prod-"));
  await mkdir(join(dir, "policies"));
  await mkdir(join(dir, "keys"));
  const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  await writeFile(join(dir, "policies", "ci-jwks.json"), JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "ci-1", alg: "ES256" }] }));
  await writeFile(join(dir, "policies", "issuers.yaml"), stringify({ issuers: [CI_ENTRY, await shippedLocalDevEntry()] }));
  await copyFile(join(ROOT, "policies", "local-dev.policy.yaml"), join(dir, "policies", "local-dev.policy.yaml"));
  await copyFile(join(ROOT, "policies", "local-dev.test.yaml"), join(dir, "policies", "local-dev.test.yaml"));
  await writeFile(join(dir, "policies", "ci.policy.yaml"), stringify(CI_POLICY));
  await writeFile(join(dir, "policies", "ci.test.yaml"), stringify(CI_FIXTURES));
  env = { BROKER_POLICY_DIR: join(dir, "policies"), BROKER_KEYS_DIR: join(dir, "keys"), BROKER_WATCH_POLICIES: "false" };
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("a production start on a folder that ran in development", () => {
  it("step 1: the development start generates development material", async () => {
    const broker = await startBroker({ ...env, NODE_ENV: "development" });
    const messages = broker.logRecords().map((record) => String(record.msg));
    await broker.stop();
    expect(messages.some((msg) => msg.startsWith("DEVELOPMENT ISSUER KEY GENERATED"))).toBe(true);
    expect(messages.some((msg) => msg.startsWith("DEVELOPMENT SIGNING KEY GENERATED"))).toBe(true);
    expect(messages.some((msg) => msg.startsWith("DEVELOPMENT ROOT CA GENERATED"))).toBe(true);
    expect(messages.some((msg) => msg.startsWith("DEVELOPMENT ADMIN SECRET GENERATED"))).toBe(true);
  }, 30_000);

  it("step 2: NODE_ENV=production refuses to start, naming the issuer, the signing key, the CA and the admin secret", async () => {
    const { code, output } = await runBrokerUntilExit({ ...env, NODE_ENV: "production" }, 15_000);
    expect(code, output.join("\n")).toBe(1);
    expect(output.some((line) => line.includes('"msg":"listening"'))).toBe(false);
    const refusals = output
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((record) => record.msg === "development material refused in production")
      .map((record) => String(record.problem));
    expect(refusals).toHaveLength(4);
    expect(refusals.some((problem) => problem.includes(`development admin secret ${join(dir, "keys", "dev-admin-secret")}`))).toBe(true);
    expect(refusals.find((problem) => problem.includes("local-dev"))).toMatch(/https:\/\/dev-issuer\.invalid/);
    expect(refusals.some((problem) => /signing key .* development/.test(problem))).toBe(true);
    expect(refusals.some((problem) => problem.includes(join(dir, "keys", "ca")))).toBe(true);
    expect(output.some((line) => line.includes("broker failed to start"))).toBe(true);
  }, 30_000);

  it("step 2b: BROKER_DEV_KEYS=on cannot bring it back in production (exit 2, a configuration error)", async () => {
    const { code, output } = await runBrokerUntilExit({ ...env, NODE_ENV: "production", BROKER_DEV_KEYS: "on" }, 15_000);
    expect(code).toBe(2);
    expect(output.join("\n")).toMatch(/BROKER_DEV_KEYS/);
  }, 30_000);

  it("step 3: with the development material gone (issuer removed, key rotated out, keys/ca removed) it starts", async () => {
    await writeFile(join(dir, "policies", "issuers.yaml"), stringify({ issuers: [CI_ENTRY] }));
    await rm(join(dir, "policies", "local-dev.policy.yaml"));
    await rm(join(dir, "policies", "local-dev.test.yaml"));
    const [developmentKey] = JSON.parse(await keysCli("list", "--json")) as { name: string }[];
    await keysCli("rotate", "--prepare");
    await keysCli("rotate", "--activate", "--force");
    await keysCli("rotate", "--retire", developmentKey?.name ?? "", "--force");
    await rm(join(dir, "keys", "ca"), { recursive: true });
    await rm(join(dir, "keys", "dev-admin-secret"));
    const broker = await startBroker({ ...env, NODE_ENV: "production" });
    const res = await fetch(`${broker.url}/healthz`);
    await broker.stop();
    expect(res.status).toBe(200);
  }, 120_000);
});
