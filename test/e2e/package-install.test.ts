/**
 * The CLI as a package: `npm pack` (its prepack builds dist/), the tarball installed into an empty
 * project as a user would (`npm install <tarball>`, production dependencies only, from npm's cache
 * when it holds them), and `npx credential-broker exchange …` run from there against a real broker
 * process. The tarball must hold the compiled CLI and nothing private (no src/, test/, keys/).
 * The start time is printed for docs/ci.md, never asserted on.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GRANTS, startBrokerFixture, type BrokerFixture } from "../support/broker-fixture.js";
import { ROOT } from "../support/repo-root.js";
import { gitlabCiClaims } from "../support/test-issuer.js";

const run = promisify(execFile);
let fx: BrokerFixture;
let dir: string;
let project: string;
let tarball: string;

beforeAll(async () => {
  fx = await startBrokerFixture();
  dir = await mkdtemp(join(tmpdir(), "broker-package-"));
  const { stdout } = await run("npm", ["pack", "--silent", "--pack-destination", dir], { cwd: ROOT, timeout: 240_000, maxBuffer: 16 * 1024 * 1024 });
  tarball = join(dir, stdout.trim().split("\n").at(-1) ?? "");
  project = join(dir, "project");
  await run("mkdir", ["-p", project]);
  await writeFile(join(project, "package.json"), JSON.stringify({ name: "ci-job", version: "1.0.0", private: true }));
  await run("npm", ["install", tarball, "--omit=dev", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: project, timeout: 240_000 });
}, 600_000);
afterAll(async () => {
  await fx?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("the packed CLI", { timeout: 120_000 }, () => {
  it("holds the compiled CLI and nothing private", async () => {
    const { stdout } = await run("tar", ["-tzf", tarball]);
    const files = stdout.trim().split("\n");
    expect(files).toContain("package/dist/cli/broker.js");
    expect(files).toContain("package/package.json");
    expect(files.filter((file) => /^package\/(src|test|keys|bench|scripts)\//.test(file) || /\.(pem|key)$/.test(file))).toEqual([]);
  });

  it("runs with npx from the project it was installed into, and exchanges a token", async () => {
    const subject = await fx.issuers.gitlab.mint(gitlabCiClaims(), { alg: "RS256" });
    const started = performance.now();
    const { stdout, stderr } = await run("npx", ["--no-install", "credential-broker", "exchange", "--broker", fx.url, "--token-env", "T", "--audience", GRANTS.gitlab.audiences[0] ?? ""], {
      cwd: project,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", T: subject },
      timeout: 60_000,
    });
    console.log(`[package-install] npx credential-broker exchange: ${Math.round(performance.now() - started)} ms wall, this run`);
    const jwks = (await (await fetch(`${fx.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
    await jwtVerify(stdout.trim(), createLocalJWKSet(jwks), { issuer: fx.url, audience: GRANTS.gitlab.audiences[0], typ: "at+jwt" });
    expect(stderr).toBe("");
  });

  it("answers --help for every command from the installed bin", async () => {
    const { stdout } = await run(join(project, "node_modules", ".bin", "broker"), ["--help"], { cwd: project });
    for (const command of ["policy", "dev-token", "revoke", "revocations", "unblock", "keys", "exchange", "svid"]) expect(stdout).toContain(command);
  });
});
