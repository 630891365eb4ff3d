/** `broker policy lint` as a real process: type errors with a caret fail it; a claims-only condition warns and does not. */
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CLI_ARGS } from "../support/compiled-broker.js";
import { ROOT } from "../support/repo-root.js";

const ISSUERS = `issuers:
  - id: github-actions
    issuer: https://token.actions.githubusercontent.com
    profile: github-actions
    keys: { discovery: true }
`;

const policy = (id: string, condition: string) => `id: ${id}
issuer: github-actions
condition: >-
${condition}
grant:
  workload_id: github/987654/123456789
  audiences: [https://deploy.example.com]
  max_lifetime: 10m
`;

describe("broker policy lint: types", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "broker-lint-types-"));
    await writeFile(join(dir, "issuers.yaml"), ISSUERS);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const lint = () => spawnSync(process.execPath, [...CLI_ARGS, "policy", "lint", "--dir", dir], { cwd: ROOT, encoding: "utf8" });

  it("prints each typo with file:line:col, the source line and a caret, and exits 1", async () => {
    await writeFile(join(dir, "deploy.policy.yaml"), policy("deploy", '  identity.attributes.repository_id == 100200300 &&\n  identity.subjct == "x"'));
    await writeFile(join(dir, "env.policy.yaml"), policy("env", '  identity.attributes.enviroment == "prod"'));
    const run = lint();
    expect(run.status, run.stderr).toBe(1);
    expect(run.stdout).toBe(
      [
        "deploy.policy.yaml:4:3 [deploy] condition: no such overload: string == int",
        "      identity.attributes.repository_id == 100200300 &&",
        "      ^",
        "env.policy.yaml:4:23 [env] condition: No such key: enviroment",
        '      identity.attributes.enviroment == "prod"',
        "                          ^",
        "2 problems",
        "",
      ].join("\n"),
    );
  }, 30_000);

  it("warns about a condition that reads only claims, and exits 0", async () => {
    await writeFile(join(dir, "claims.policy.yaml"), policy("claims-only", '  claims.repository_id == "123456789"'));
    // The policy is covered by an allow and a deny fixture: the warning is then the only thing lint says.
    const identity = { issuer: "github-actions", profile: "github-actions", iss: "https://token.actions.githubusercontent.com", subject: "repo:o/r:ref:refs/heads/main" };
    const testCase = (name: string, repositoryId: string, allow: boolean) =>
      `  - name: ${name}\n    now: 2030-01-01T00:00:00Z\n    identity: ${JSON.stringify(identity)}\n    claims: { repository_id: "${repositoryId}" }\n    request: { audiences: [https://deploy.example.com] }\n    expect: { allow: ${allow} }\n`;
    await writeFile(join(dir, "claims.test.yaml"), `policy_tests:\n${testCase("the repository", "123456789", true)}${testCase("another repository", "1", false)}`);
    const run = lint();
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^warning: claims\.policy\.yaml:4:3 \[claims-only\] condition: reads `claims` and never `identity`/m);
    expect(run.stdout).toContain(`\n      claims.repository_id == "123456789"\n      ^\n`);
    expect(run.stdout).toMatch(/: no problems, 1 warning\n$/);
  }, 30_000);
});
