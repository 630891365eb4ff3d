/** YAML anchors, aliases and `<<` merge keys in policy and fixture files, with the alias-expansion cap kept. */
import { afterEach, describe, expect, it } from "vitest";
import { runPolicyFixtures } from "../../src/policy/fixtures.js";
import { loadPolicySet, PolicyLoadError } from "../../src/policy/load-policies.js";
import { parseYaml } from "../../src/policy/yaml-source.js";
import { KNOWN_ISSUERS, narrow, tempDir } from "../support/policy.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function folder(files: Record<string, string>): Promise<string> {
  const temp = await tempDir(files);
  cleanups.push(temp.cleanup);
  return temp.dir;
}

const POLICY = `
id: deploy
issuer: github-actions
condition: identity.attributes.repository_id == "123456789"
grant:
  <<: &defaults
    audiences: [https://deploy.example.com]
    max_lifetime: 10m
  workload_id: github/987654/123456789
  scopes: [deploy:write]
`;

const FIXTURES = `
policy_tests:
  - &allowed
    name: the repository may deploy
    now: 2026-11-01T12:00:00Z
    identity: &repo
      issuer: github-actions
      profile: github-actions
      iss: https://token.actions.githubusercontent.com
      subject: "repo:acme/payments:ref:refs/heads/main"
      attributes: { repository_id: "123456789" }
    request: { audiences: [https://deploy.example.com] }
    expect: { allow: true, policy: deploy, workload_id: github/987654/123456789 }
  - <<: *allowed
    name: another repository may not
    identity:
      <<: *repo
      attributes: { repository_id: "555" }
    expect: { allow: false, reason: no_matching_policy }
`;

describe("YAML merge keys", () => {
  it("a policy and its fixtures may share parts with anchors and << merges", async () => {
    const dir = await folder({ "deploy.policy.yaml": POLICY, "deploy.test.yaml": FIXTURES });
    const set = await loadPolicySet(dir, { knownIssuers: KNOWN_ISSUERS });
    const results = await runPolicyFixtures(dir, set, narrow);
    expect(results.map((result) => [result.name, result.passed, result.message])).toEqual([
      ["the repository may deploy", true, "ok"],
      ["another repository may not", true, "ok"],
    ]);
  });

  it("merged keys are the merged map's own: the merge key itself is not an unknown field", () => {
    const parsed = parseYaml("a: &x { b: 1, c: 2 }\nd:\n  <<: *x\n  c: 3\n");
    expect(parsed.ok && parsed.value).toEqual({ a: { b: 1, c: 2 }, d: { b: 1, c: 3 } });
  });

  it("a type error in a merged expression is still reported, without a position it cannot know", async () => {
    const dir = await folder({
      "p.policy.yaml": `${POLICY.replace('condition: identity.attributes.repository_id == "123456789"', "<<: { condition: identity.attributes.repo_id == \"1\" }")}`,
    });
    const error: unknown = await loadPolicySet(dir, { knownIssuers: KNOWN_ISSUERS }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PolicyLoadError);
    expect((error as PolicyLoadError).lines).toEqual(["p.policy.yaml [deploy] condition: No such key: repo_id"]);
  });

  it("alias expansion stays capped (a billion-laughs file is refused)", () => {
    const levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let level = 1; level < 8; level++) {
      const name = String.fromCharCode(97 + level);
      const previous = String.fromCharCode(96 + level);
      levels.push(`${name}: &${name} [${Array(10).fill(`*${previous}`).join(", ")}]`);
    }
    const parsed = parseYaml(`${levels.join("\n")}\n`);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.issues[0]?.message).toMatch(/YAML: .*alias/i);
  });
});
