/**
 * `broker exchange` end to end: the real CLI process, the broker in-process served on loopback, and a fake GitHub
 * Actions runner token endpoint on loopback that hands out an OIDC token (minted by the fixture's
 * GitHub test issuer, for the audience asked) only to the right request token.
 */
import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { chmod, chown, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GRANTS, startInProcessBroker, type InProcessBroker } from "../support/in-process-broker.js";
import { githubActionsClaims, gitlabCiClaims } from "../support/test-issuer.js";
import { CLI_ARGS } from "../support/compiled-broker.js";
import { startFakeGithubRunner, type FakeGithubRunner } from "../support/fake-github-runner.js";
import { ROOT } from "../support/repo-root.js";

const REQUEST_TOKEN = "runner-request-token-0123456789";

let fx: InProcessBroker;
let runner: FakeGithubRunner;
let dir: string;

beforeAll(async () => {
  fx = await startInProcessBroker({ listen: true });
  dir = await mkdtemp(join(tmpdir(), "broker-exchange-cli-"));
  runner = await startFakeGithubRunner(REQUEST_TOKEN, (audience) => fx.issuers.github.mint(githubActionsClaims({}, { aud: audience }), { alg: "RS256" }));
}, 60_000);
afterAll(async () => {
  runner?.close();
  await fx?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function cli(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  return cliAt(fx.url, args, env);
}

function cliAt(broker: string, args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...CLI_ARGS, "exchange", "--broker", broker, ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? "", ...env } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const githubEnv = (requestToken = REQUEST_TOKEN) => ({
  GITHUB_ACTIONS: "true",
  ACTIONS_ID_TOKEN_REQUEST_URL: runner.requestUrl,
  ACTIONS_ID_TOKEN_REQUEST_TOKEN: requestToken,
});

async function verify(token: string, audience: string) {
  const jwks = (await (await fetch(`${fx.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
  return (await jwtVerify(token, createLocalJWKSet(jwks), { issuer: fx.url, audience, typ: "at+jwt" })).payload;
}

// Each CLI call starts a node process (seconds on a loaded machine): a test runs several in a row.
describe("broker exchange", { timeout: 90_000 }, () => {
  it("in GitHub Actions: fetches the job's OIDC token for the broker's issuer, masks, then prints the access token", async () => {
    const audience = GRANTS.github.audiences[0];
    const result = await cli(["--audience", audience, "--scope", "deploy:read", "--lifetime", "300"], githubEnv());
    expect(result.code, result.stderr).toBe(0);
    expect(runner.calls.at(-1)).toEqual({ authorized: true, audience: fx.url });
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(3);
    const token = lines[2] ?? "";
    // Every line that carries a secret comes after the command that masks it.
    expect(lines[0]).toMatch(/^::add-mask::ey[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(lines[1]).toBe(`::add-mask::${token}`);
    const claims = await verify(token, audience);
    expect(claims).toMatchObject({ sub: GRANTS.github.workloadId, scope: "deploy:read" });
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBeLessThanOrEqual(300);
    expect(result.stderr).toBe("");
  });

  it("writes the token to --out with mode 0600, printing only the masks", async () => {
    const out = join(dir, "token");
    const result = await cli(["--audience", GRANTS.github.audiences[0], "--out", out], githubEnv());
    expect(result.code, result.stderr).toBe(0);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    const token = (await readFile(out, "utf8")).trim();
    await verify(token, GRANTS.github.audiences[0]);
    expect(result.stdout.split("\n").filter(Boolean).every((line) => line.startsWith("::add-mask::"))).toBe(true);
    expect(result.stdout).toContain(`::add-mask::${token}`);
    expect(result.stderr).toMatch(/^access token written to .*token \(expires in \d+ s\)\n$/);
  });

  it("outside GitHub Actions: reads the subject token from --token-env or --token-file, prints only the token", async () => {
    const subject = await fx.issuers.gitlab.mint(gitlabCiClaims());
    const fromEnv = await cli(["--token-env", "CI_BROKER_ID_TOKEN", "--audience", GRANTS.gitlab.audiences[0], "--scope", "artifacts:pull"], { CI_BROKER_ID_TOKEN: subject });
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    expect(fromEnv.stdout).not.toContain("::add-mask::");
    await verify(fromEnv.stdout.trim(), GRANTS.gitlab.audiences[0]);

    const file = join(dir, "subject");
    await writeFile(file, `${subject}\n`);
    const fromFile = await cli(["--token-file", file, "--audience", GRANTS.gitlab.audiences[0]]);
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect((await verify(fromFile.stdout.trim(), GRANTS.gitlab.audiences[0])).sub).toBe(GRANTS.gitlab.workloadId);
  });

  it("binds the token to --dpop-key: creates the key (0600) once, then reuses it; the token's cnf.jkt is that key", async () => {
    const keyFile = join(dir, "dpop-key.pem");
    const subject = await fx.issuers.gitlab.mint(gitlabCiClaims());
    const args = ["--token-env", "CI_BROKER_ID_TOKEN", "--audience", GRANTS.gitlab.audiences[0], "--dpop-key", keyFile];
    const first = await cli(args, { CI_BROKER_ID_TOKEN: subject });
    expect(first.code, first.stderr).toBe(0);
    const jkt = /generated DPoP key .* \(jkt ([A-Za-z0-9_-]{43})\)/.exec(first.stderr)?.[1];
    expect(jkt).toBeDefined();
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    expect(await readFile(keyFile, "utf8")).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect((await verify(first.stdout.trim(), GRANTS.gitlab.audiences[0])).cnf).toEqual({ jkt });

    const second = await cli(args, { CI_BROKER_ID_TOKEN: subject });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain(`DPoP key ${keyFile} (jkt ${jkt})`);
    expect(second.stderr).not.toContain("generated");
    expect((await verify(second.stdout.trim(), GRANTS.gitlab.audiences[0])).cnf).toEqual({ jkt });
  });

  it("answers a broker that requires DPoP nonces by retrying once with the nonce it was given", async () => {
    const strict = await startInProcessBroker({ listen: true, env: { BROKER_DPOP_NONCE: "required" } });
    try {
      const subject = await strict.issuers.gitlab.mint(gitlabCiClaims());
      const result = await new Promise<CliResult>((resolve) => {
        execFile(
          process.execPath,
          [...CLI_ARGS, "exchange", "--broker", strict.url, "--token-env", "T", "--audience", GRANTS.gitlab.audiences[0], "--dpop-key", join(dir, "dpop-nonce.pem")],
          { cwd: ROOT, env: { PATH: process.env.PATH ?? "", T: subject } },
          (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
        );
      });
      expect(result.code, result.stderr).toBe(0);
      const token = result.stdout.trim();
      const jwks = (await (await fetch(`${strict.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
      const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: strict.url, audience: GRANTS.gitlab.audiences[0], typ: "at+jwt" });
      expect(payload.cnf).toEqual({ jkt: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    } finally {
      await strict.close();
    }
  }, 60_000);

  it("refuses a --dpop-key that is not an EC P-256 private key, without printing the file", async () => {
    const keyFile = join(dir, "not-a-key.pem");
    await writeFile(keyFile, "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LW5vdC1hLWtleQ==\n-----END PRIVATE KEY-----\n", { mode: 0o600 });
    const result = await cli(["--token-env", "T", "--audience", GRANTS.gitlab.audiences[0], "--dpop-key", keyFile], { T: "x" });
    expect(result.code).toBe(64);
    expect(result.stderr).toContain("is not a PEM private key");
    expect(result.stderr).not.toContain("c2VjcmV0");
  });

  it.each([0o644, 0o640, 0o602])("refuses a --dpop-key file with loose mode %#o (as ssh does), naming the mode and the fix", async (mode) => {
    const keyFile = join(dir, `loose-${mode.toString(8)}.pem`);
    await writeFile(keyFile, generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }), { mode: 0o600 });
    await chmod(keyFile, mode);
    const subject = await fx.issuers.gitlab.mint(gitlabCiClaims());
    const result = await cli(["--token-env", "T", "--audience", GRANTS.gitlab.audiences[0], "--dpop-key", keyFile], { T: subject });
    expect(result.code).toBe(64);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain(`mode 0${mode.toString(8)}`);
    expect(result.stderr).toContain(`chmod 600 ${keyFile}`);
    expect(result.stderr).not.toContain("BEGIN");
  });

  it("refuses a --dpop-key file that is not owned by the current user", async () => {
    // As root, hand a 0600 key file to another user; otherwise a root-owned file is foreign already.
    const uid = process.getuid?.() ?? 0;
    let foreign = "/etc/hostname";
    if (uid === 0) {
      foreign = join(dir, "foreign-dpop-key.pem");
      await writeFile(foreign, generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }), { mode: 0o600 });
      await chown(foreign, 65534, 65534);
    }
    const result = await cli(["--token-env", "T", "--audience", GRANTS.gitlab.audiences[0], "--dpop-key", foreign], { T: "x" });
    expect(result.code).toBe(64);
    expect(result.stderr).toContain(`the DPoP key ${foreign} is not owned by the current user`);
  });

  it("reports the broker's refusal and exits 2 without printing any token", async () => {
    const subject = await fx.issuers.gitlab.mint(gitlabCiClaims());
    const result = await cli(["--token-env", "T", "--audience", "https://not-granted.example.com"], { T: subject });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/^broker exchange: broker refused the exchange \(400 invalid_target\): .+\n$/);
    expect(result.stderr).not.toContain(subject);
    expect(result.stderr).not.toMatch(/ey[\w-]{10,}\./);
  });

  it("fails clearly when the runner refuses the request token, or no subject token is available", async () => {
    const refused = await cli(["--audience", GRANTS.github.audiences[0]], githubEnv("wrong-request-token"));
    expect(refused.code).toBe(2);
    expect(runner.calls.at(-1)?.authorized).toBe(false);
    expect(refused.stderr).toMatch(/GitHub Actions refused the OIDC token request \(401\).*id-token: write/);
    expect(refused.stdout).toBe("");
    expect(refused.stderr).not.toContain("wrong-request-token");

    const nothing = await cli(["--audience", GRANTS.github.audiences[0]]);
    expect(nothing.code).toBe(64);
    expect(nothing.stderr).toMatch(/no subject token: pass --token-file or --token-env/);
    const unset = await cli(["--token-env", "NOT_SET", "--audience", GRANTS.github.audiences[0]]);
    expect(unset.code).toBe(64);
    expect(unset.stderr).toMatch(/environment variable NOT_SET is unset or empty/);
    const badOption = await cli(["--audience", GRANTS.github.audiences[0], "--lifetime", "forever"]);
    expect(badOption.code).toBe(64);
    expect(badOption.stderr).toContain("whole seconds from 1 to 86400");
  });

  it("checks --out before it asks the runner for a token: an unwritable --out spends nothing and exits 64", async () => {
    const calls = runner.calls.length;
    const result = await cli(["--audience", GRANTS.github.audiences[0], "--out", join(dir, "no-such-folder", "token")], githubEnv());
    expect(result.code).toBe(64);
    expect(result.stderr).toMatch(/--out .*no-such-folder\/token cannot be written \(ENOENT\); nothing was exchanged/);
    expect(runner.calls.length).toBe(calls);
    expect(result.stdout).toBe("");
  });

  it("an unreachable broker is 'unavailable' (exit 3) after bounded retries, and says which request failed", async () => {
    const closed = await new Promise<number>((resolve) => {
      const probe = createServer();
      probe.listen(0, "127.0.0.1", () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const started = performance.now();
    const result = await cliAt(`http://127.0.0.1:${closed}`, ["--audience", GRANTS.github.audiences[0], "--retries", "1"], githubEnv());
    expect(result.code).toBe(3);
    // In GitHub Actions mode the first request is the broker's metadata (the OIDC token's audience).
    expect(result.stderr).toContain(`GET http://127.0.0.1:${closed}/.well-known/oauth-authorization-server (the broker's metadata, for the OIDC token's audience) failed: ECONNREFUSED`);
    expect(result.stderr).toMatch(/retry 1 of 1 in \d\.\d s/);
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});
