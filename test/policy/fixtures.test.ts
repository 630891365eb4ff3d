import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runPolicyFixtures } from "../../src/policy/fixtures.js";
import { loadPolicySet } from "../../src/policy/load-policies.js";
import { KNOWN_ISSUERS, policyYaml, tempDir, narrow } from "../support/policy.js";
import { ROOT } from "../support/repo-root.js";

const REPO_POLICIES = join(ROOT, "policies");

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

describe("the repository's policies", () => {
  it("load and pass every fixture beside them", async () => {
    const set = await loadPolicySet(REPO_POLICIES, { knownIssuers: KNOWN_ISSUERS });
    expect(set.policyIds).toEqual(expect.arrayContaining(["github-deploy", "gitlab-ci", "kubernetes-workload", "local-dev"]));
    const results = await runPolicyFixtures(REPO_POLICIES, set, narrow);
    const failed = results.filter((result) => !result.passed).map((result) => `${result.file} / ${result.name}: ${result.message}`);
    expect(failed).toEqual([]);
    expect(results.length).toBeGreaterThanOrEqual(20);
    // Each policy's fixtures cover both an allow and a deny.
    for (const file of ["github-deploy.test.yaml", "gitlab-ci.test.yaml", "kubernetes-workload.test.yaml", "local-dev.test.yaml"]) {
      expect(results.filter((result) => result.file === file).length).toBeGreaterThanOrEqual(4);
    }
  });
});

describe("runPolicyFixtures", () => {
  const identity = "{ issuer: local-dev, profile: oidc, iss: http://localhost/dev, subject: demo-workload }";

  it("reports a fixture whose expectation does not hold, with the decision's reason", async () => {
    const temp = await tempDir({
      "a.policy.yaml": policyYaml({ id: "a", condition: "claims.team == 'payments'" }),
      "a.test.yaml": [
        "policy_tests:",
        "  - name: passes",
        "    now: 2026-11-01T12:00:00Z",
        `    identity: ${identity}`,
        "    claims: { team: payments }",
        "    expect: { allow: true, policy: a, workload_id: wl/a, audiences: [https://a.example.com], scopes: [read, write] }",
        "  - name: wrong expectation",
        "    now: 2026-11-01T12:00:00Z",
        `    identity: ${identity}`,
        "    claims: { team: sales }",
        "    expect: { allow: true, policy: a }",
        "  - name: wrong reason",
        "    now: 1793534400",
        `    identity: ${identity}`,
        "    claims: { team: payments }",
        "    request: { scopes: [admin] }",
        "    expect: { allow: false, reason: target_not_granted }",
        "",
      ].join("\n"),
    });
    cleanups.push(temp.cleanup);
    const set = await loadPolicySet(temp.dir, { knownIssuers: KNOWN_ISSUERS });
    const results = await runPolicyFixtures(temp.dir, set, narrow);
    expect(results.map((result) => [result.name, result.passed])).toEqual([
      ["passes", true],
      ["wrong expectation", false],
      ["wrong reason", false],
    ]);
    expect(results[1]?.message).toMatch(/expected allow, got deny no_matching_policy/);
    expect(results[2]?.message).toMatch(/expected reason target_not_granted, got scope_not_granted/);
  });

  it("reports a malformed fixture file instead of skipping it", async () => {
    const temp = await tempDir({
      "bad.test.yaml": "policy_tests:\n  - name: x\n    now: not-a-time\n    identity: { issuer: local-dev }\n    expect: { allow: maybe }\n",
    });
    cleanups.push(temp.cleanup);
    const set = await loadPolicySet(temp.dir, { knownIssuers: KNOWN_ISSUERS });
    const results = await runPolicyFixtures(temp.dir, set, narrow);
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ name: "(file)", file: "bad.test.yaml", passed: false });
    expect(results[0]?.message).toMatch(/policy_tests\.0\.now/);
    expect(results[0]?.message).toMatch(/policy_tests\.0\.identity/);
  });
});
