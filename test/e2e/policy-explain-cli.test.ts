/**
 * `broker policy explain` end to end: the real CLI process, a policy folder trusting a real test
 * issuer on 127.0.0.1 (its JWKS served over HTTP), and tokens that issuer minted: decode-only and
 * `--verify`, text and JSON, file and stdin, and the exit codes (0 granted, 2 denied, 1 error).
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI_ARGS } from "../support/compiled-broker.js";
import { ROOT } from "../support/repo-root.js";
import { generateSigningKey, githubActionsClaims, startTestIssuer, type TestIssuer } from "../support/test-issuer.js";

const AUDIENCE = "https://broker.test";
let issuer: TestIssuer;
let dir: string;
/** Every token minted here: none may appear in anything the CLI prints. */
const tokens: string[] = [];

beforeAll(async () => {
  issuer = await startTestIssuer({ audience: AUDIENCE });
  dir = await mkdtemp(join(tmpdir(), "broker-explain-cli-"));
  const entry = { id: "github-actions", issuer: issuer.url, profile: "github-actions", keys: { jwks_uri: issuer.jwksUrl }, audiences: [AUDIENCE], algorithms: ["ES256"] };
  await writeFile(join(dir, "issuers.yaml"), stringify({ issuers: [entry] }));
  const grant = { audiences: ["https://deploy.example.com"], scopes: ["deploy:read", "deploy:write"], max_lifetime: "10m" };
  await writeFile(
    join(dir, "10-release.policy.yaml"),
    stringify({ id: "release", issuer: "github-actions", condition: 'identity.attributes.repository_id == "123456" && claims.ref == "refs/heads/release"', grant: { ...grant, workload_id: "github/release" } }),
  );
  await writeFile(
    join(dir, "20-deploy.policy.yaml"),
    stringify({
      id: "deploy",
      issuer: "github-actions",
      condition: 'identity.attributes.repository_owner_id == "7890" && (identity.attributes.repository_id == "123456" && claims.event_name in ["push", "workflow_dispatch"])',
      grant: { ...grant, workload_id_expr: '"github/" + identity.attributes.repository_id', claims: { repository: "identity.attributes.repository" } },
    }),
  );
}, 30_000);
afterAll(async () => {
  await issuer?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `broker policy explain --dir <dir> …`, with `stdin` piped in when given. Async: the issuer answers from this process. */
function explain(args: readonly string[], stdin?: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...CLI_ARGS, "policy", "explain", "--dir", dir, ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? "" } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      for (const token of tokens) {
        for (const part of [token, token.split(".")[1] ?? "", token.split(".")[2] ?? ""]) {
          if (stdout.includes(part) || stderr.includes(part)) reject(new Error("the CLI printed the token"));
        }
      }
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin ?? "");
  });
}

async function tokenFile(name: string, claims: Record<string, unknown> = {}, options: Parameters<TestIssuer["mint"]>[1] = {}): Promise<string> {
  const token = await issuer.mint(githubActionsClaims({}, claims), options);
  tokens.push(token);
  const path = join(dir, name);
  await writeFile(path, `${token}\n`);
  return path;
}

const NOT_VERIFIED = /^NOT VERIFIED: the token was only decoded/;

describe("broker policy explain", { timeout: 90_000 }, () => {
  it("decode-only, granted: says so first, the normalised identity, each verdict with the failing part, the narrowed grant; exit 0", async () => {
    const file = await tokenFile("push.jwt");
    const result = await explain(["--token", file, "--audience", "https://deploy.example.com", "--scope", "deploy:read", "--lifetime", "120"]);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.split("\n");
    expect(lines[0]).toMatch(NOT_VERIFIED);
    expect(result.stdout).toMatch(/issuer {7}github-actions \(profile github-actions, iss http:\/\/127\.0\.0\.1:\d+\)/);
    expect(result.stdout).toContain("repository_id=123456");
    expect(result.stdout).toContain("sub_context=ref:refs/heads/main");
    expect(result.stdout).toMatch(/release {2}condition_false: claims\.ref == "refs\/heads\/release" {2}is false/);
    expect(result.stdout).toMatch(/deploy {3}granted/);
    expect(result.stdout).toContain("decision: ALLOW by policy deploy");
    expect(result.stdout).toMatch(/workload id {2}github\/123456/);
    expect(result.stdout).toMatch(/scopes {7}deploy:read\n/);
    expect(result.stdout).toMatch(/lifetime {5}120 s/);
    expect(result.stdout).toContain('extra claims {"repository":"octo-org/octo-repo"}');
    expect(issuer.requests.jwks).toBe(0); // nothing fetched without --verify
  });

  it("decode-only, denied, token on stdin (trailing newline dropped): the first false sub-expression of each policy; exit 2", async () => {
    const token = await issuer.mint(githubActionsClaims({}, { event_name: "pull_request" }));
    tokens.push(token);
    const result = await explain(["--token", "-", "--audience", "https://deploy.example.com"], `${token}\n`);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stdout).toMatch(NOT_VERIFIED);
    expect(result.stdout).toMatch(/deploy {3}condition_false: claims\.event_name in \["push", "workflow_dispatch"\] {2}is false/);
    expect(result.stdout).toContain('decision: DENY unauthorized_client (no_matching_policy): "no policy grants a credential to this identity"');
    expect(result.stdout).not.toContain("grant (narrowed");
  });

  it("--json: the same report as data, with the failing part's result and the reason a grant refused", async () => {
    const file = await tokenFile("json.jwt");
    const result = await explain(["--token", file, "--audience", "https://deploy.example.com", "--scope", "admin", "--json"]);
    expect(result.code, result.stderr).toBe(2);
    const report = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(report).toMatchObject({
      verified: false,
      identity: { issuer: "github-actions", profile: "github-actions", attributes: { repository_id: "123456", repository_owner_id: "7890" } },
      request: { audiences: ["https://deploy.example.com"], scopes: ["admin"], tokenType: "access_token" },
      policies: [
        { id: "release", applied: true, outcome: "condition_false", failed: { expression: 'claims.ref == "refs/heads/release"', result: "false" } },
        { id: "deploy", applied: true, outcome: "scope_not_granted", detail: "not granted: admin" },
      ],
      decision: { allow: false, reason: "scope_not_granted", error: "invalid_scope" },
    });
    expect(report).not.toHaveProperty("grant");
  });

  it("--verify: the signature and times are checked with the keys the issuer serves over HTTP; exit 0", async () => {
    const file = await tokenFile("verified.jwt");
    issuer.resetRequests();
    const result = await explain(["--token", file, "--audience", "https://deploy.example.com", "--verify"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.split("\n")[0]).toBe("VERIFIED: signature, audience and times checked against the issuer's keys");
    expect(result.stdout).toContain("decision: ALLOW by policy deploy");
    expect(issuer.requests.jwks).toBe(1);
  });

  it("a token signed by a key the issuer never published: decode-only explains it (and says it is unverified); --verify refuses it; exit 2", async () => {
    const forged = await tokenFile("forged.jwt", {}, { key: await generateSigningKey("ES256") });
    const decoded = await explain(["--token", forged, "--audience", "https://deploy.example.com"]);
    expect(decoded.code, decoded.stderr).toBe(0);
    expect(decoded.stdout).toMatch(NOT_VERIFIED);
    const verified = await explain(["--token", forged, "--audience", "https://deploy.example.com", "--verify"]);
    expect(verified.code, verified.stderr).toBe(2);
    expect(verified.stdout).toMatch(/^VERIFIED[^\n]*\n\nrefused before any policy: subject_token /);
    expect(verified.stdout).not.toContain("decision:");
  });

  it("--now past the token's expiry: decode-only warns, --verify refuses", async () => {
    const file = await tokenFile("old.jwt");
    const later = String(Math.floor(Date.now() / 1000) + 3700); // past exp (300 s) and max_token_age (1 h + 60 s skew)
    const decoded = await explain(["--token", file, "--audience", "https://deploy.example.com", "--now", later]);
    expect(decoded.code, decoded.stderr).toBe(0);
    expect(decoded.stdout).toMatch(/\nwarning: a verification would refuse it: the token expired at /);
    expect(decoded.stdout).toMatch(/\nwarning: a verification would refuse it: the token is older than the issuer's max_token_age \(3600 s; issued /);
    const verified = await explain(["--token", file, "--audience", "https://deploy.example.com", "--now", later, "--verify"]);
    expect(verified.code, verified.stderr).toBe(2);
    expect(verified.stdout).toMatch(/refused before any policy: subject_token .*expired/i);
  });

  it("decode-only names what a verification would refuse besides the times: an audience the issuer does not expect", async () => {
    const file = await tokenFile("elsewhere.jwt", { aud: "https://elsewhere.example.com" });
    const decoded = await explain(["--token", file, "--audience", "https://deploy.example.com"]);
    expect(decoded.code, decoded.stderr).toBe(0);
    expect(decoded.stdout).toContain(
      `warning: a verification would refuse it: its aud "https://elsewhere.example.com" names none of the audiences issuer github-actions expects (${AUDIENCE})`,
    );
    const verified = await explain(["--token", file, "--audience", "https://deploy.example.com", "--verify"]);
    expect(verified.code, verified.stderr).toBe(2);
    expect(verified.stdout).toMatch(/refused before any policy: subject_token /);
  });

  it("errors: no --token, a missing file, a bad --token-type, an unreachable JWKS are exit 1 on stderr; an untrusted issuer is a refusal (2)", async () => {
    const missingOption = await explain([]);
    expect(missingOption.code).toBe(1);
    expect(missingOption.stderr).toMatch(/--token/);
    const missingFile = await explain(["--token", join(dir, "nope.jwt")]);
    expect(missingFile.code).toBe(1);
    expect(missingFile.stderr).toMatch(/^broker policy explain: .*nope\.jwt/);
    const badType = await explain(["--token", join(dir, "push.jwt"), "--token-type", "saml"]);
    expect(badType.code).toBe(1);
    const stranger = await startTestIssuer({ audience: AUDIENCE });
    try {
      const token = await stranger.mint(githubActionsClaims());
      tokens.push(token);
      const untrusted = await explain(["--token", "-"], token);
      expect(untrusted.code, untrusted.stderr).toBe(2);
      expect(untrusted.stdout).toMatch(/refused before any policy: subject_token issuer is not trusted/);
    } finally {
      await stranger.close();
    }
    issuer.failWith("500");
    try {
      const unreachable = await explain(["--token", join(dir, "push.jwt"), "--verify"]);
      expect(unreachable.code).toBe(1);
      expect(unreachable.stderr).toMatch(/cannot verify/);
      expect(unreachable.stdout).toBe("");
    } finally {
      issuer.failWith("none");
    }
  });
});
