/** Type checking of policy expressions at load: each error kind, located by file, policy id, line and caret. */
import { afterEach, describe, expect, it } from "vitest";
import { loadPolicySet, PolicyLoadError } from "../../src/policy/load-policies.js";
import type { PolicyLoadIssue } from "../../src/policy/load-policies.js";
import type { PolicySet } from "../../src/policy/types.js";
import { KNOWN_ISSUERS, NOW, narrow, request, subject, tempDir } from "../support/policy.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function folder(files: Record<string, string>): Promise<string> {
  const temp = await tempDir(files);
  cleanups.push(temp.cleanup);
  return temp.dir;
}

/** A github-actions policy whose condition is written as `conditionLines` (YAML, after `condition:`). */
function githubPolicy(conditionLines: string, grantExtra = ""): string {
  return [
    "id: github-deploy",
    "issuer: github-actions",
    `condition: ${conditionLines}`,
    "grant:",
    "  workload_id: github/987654/123456789",
    "  audiences: [https://deploy.example.com]",
    "  max_lifetime: 10m",
    grantExtra,
  ].join("\n");
}

async function loadErrors(files: Record<string, string>): Promise<PolicyLoadError> {
  const error: unknown = await loadPolicySet(await folder(files), { knownIssuers: KNOWN_ISSUERS }).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(PolicyLoadError);
  return error as PolicyLoadError;
}

async function load(files: Record<string, string>, onWarning?: (warning: PolicyLoadIssue) => void): Promise<PolicySet> {
  return loadPolicySet(await folder(files), { knownIssuers: KNOWN_ISSUERS, ...(onWarning ? { onWarning } : {}) });
}

describe("type errors are load errors with file, policy id, line and a caret under the column", () => {
  it("a misspelt attribute in a folded (>-) condition", async () => {
    const error = await loadErrors({
      "deploy.policy.yaml": githubPolicy('>-\n  identity.attributes.repository_id == "123456789" &&\n  identity.attributes.enviroment == "prod"'),
    });
    expect(error.lines).toEqual([
      [
        "deploy.policy.yaml:5:23 [github-deploy] condition: No such key: enviroment",
        '      identity.attributes.enviroment == "prod"',
        `${" ".repeat(4 + 22)}^`,
      ].join("\n"),
    ]);
    expect(error.issues[0]).toMatchObject({ file: "deploy.policy.yaml", policyId: "github-deploy", path: "condition", line: 5, column: 23 });
  });

  it.each([
    ["plain", 'identity.subjct == "x"', "3:21"],
    ["double-quoted", '"identity.subject == \\"x\\" && identity.subjct == \\"y\\""', "3:51"],
    ["single-quoted", "'identity.subject == ''x'' && identity.subjct == ''y'''", "3:51"],
    ["literal (|)", '|\n  identity.subject == "x" &&\n    identity.subjct == "y"', "5:14"],
    ["folded (>)", '>\n  identity.subject == "x" &&\n  identity.subjct == "y"', "5:12"],
  ])("%s scalar: the caret is under the misspelt field", async (_style, written, at) => {
    const error = await loadErrors({ "p.policy.yaml": githubPolicy(written) });
    const [line, column] = at.split(":").map(Number) as [number, number];
    const text = error.lines[0] ?? "";
    expect(text).toMatch(new RegExp(`^p\\.policy\\.yaml:${line}:${column} \\[github-deploy\\] condition: No such key: subjct\\n`));
    const [, source = "", caret = ""] = text.split("\n");
    // The caret column points at the "s" of "subjct" in the echoed source line.
    expect(source.slice(4).slice(column - 1, column - 1 + "subjct".length)).toBe("subjct");
    expect(caret).toBe(`${" ".repeat(4 + column - 1)}^`);
  });

  it("a string attribute compared with an int", async () => {
    const error = await loadErrors({ "p.policy.yaml": githubPolicy("identity.attributes.repository_id == 100200300") });
    expect(error.lines[0]).toMatch(/^p\.policy\.yaml:3:12 \[github-deploy\] condition: no such overload: string == int\n/);
  });

  it("a condition that is not a bool, and a claim or id of the wrong type", async () => {
    const error = await loadErrors({
      "a.policy.yaml": githubPolicy("identity.attributes.repository", "  claims:\n    everything: identity.attributes\n    scopes: request.scopes"),
      "b.policy.yaml": githubPolicy("true", "  workload_id_expr: request.time").replace("id: github-deploy", "id: b").replace("  workload_id: github/987654/123456789\n", ""),
    });
    const text = error.lines.join("\n");
    expect(text).toMatch(/a\.policy\.yaml:3:12 \[github-deploy\] condition: gives string, expected bool/);
    expect(text).toMatch(/a\.policy\.yaml:9:17 \[github-deploy\] grant\.claims\.everything: gives GithubActionsAttributes, expected string, int, uint, double, bool or list<string>/);
    expect(text).toMatch(/b\.policy\.yaml:7:21 \[b\] grant\.workload_id_expr: gives int, expected string/);
    expect(text).not.toMatch(/grant\.claims\.scopes/);
  });

  it("a misspelt field inside has(), of identity and of actor", async () => {
    const error = await loadErrors({
      "p.policy.yaml": githubPolicy("has(identity.attributes.enviroment)", "  delegation:\n    actor_condition: actor != null && has(actor.identity.subjct)"),
    });
    const text = error.lines.join("\n");
    expect(text).toMatch(/p\.policy\.yaml:3:36 \[github-deploy\] condition: No such key: enviroment/);
    expect(text).toMatch(/p\.policy\.yaml:9:58 \[github-deploy\] grant\.delegation\.actor_condition: No such key: subjct/);
  });

  it("mixed-type list literals are refused (write dyn() to mix on purpose); the global matches() form too", async () => {
    const error = await loadErrors({
      "a.policy.yaml": githubPolicy('claims.run_id in [42, "42"]'),
      "b.policy.yaml": githubPolicy('matches(identity.attributes.ref, "^refs/heads/")').replace("id: github-deploy", "id: b"),
    });
    expect(error.lines.join("\n")).toMatch(/a\.policy\.yaml:3:\d+ \[github-deploy\] condition: List elements must have the same type/);
    // @bufbuild/cel has only the method form: the global form would fail every evaluation.
    expect(error.lines.join("\n")).toMatch(/b\.policy\.yaml:3:12 \[b\] condition: found no matching overload for 'matches\(string, string\)'/);
    await expect(load({ "a.policy.yaml": githubPolicy('claims.run_id in [dyn(42), dyn("42")] && identity.attributes.ref.matches("^refs/heads/")') })).resolves.toBeDefined();
  });

  it("an attribute another profile has is still an error: attributes are typed by the issuer's profile", async () => {
    const error = await loadErrors({ "p.policy.yaml": githubPolicy('identity.attributes.project_id == "4242"') });
    expect(error.lines[0]).toMatch(/condition: No such key: project_id/);
    const gitlab = githubPolicy('identity.attributes.project_id == "4242"').replace("issuer: github-actions", "issuer: gitlab-ci");
    await expect(load({ "p.policy.yaml": gitlab })).resolves.toBeDefined();
  });
});

describe("what type-checks also runs as declared", () => {
  const github = (attributes: Record<string, string>) => subject({ issuer: "github-actions", profile: "github-actions", attributes });

  it("actor == null and actor != null type-check, and hold as they read", async () => {
    const set = await load({
      "p.policy.yaml": githubPolicy("actor == null"),
    });
    expect(set.evaluate(github({}), request({ audiences: ["https://deploy.example.com"] }), narrow).allow).toBe(true);
    const actor = { identity: { issuer: "kubernetes", iss: "https://k8s", profile: "kubernetes" as const, subject: "system:serviceaccount:a:b", attributes: {} }, claims: {} };
    expect(set.evaluate(github({}), request({ audiences: ["https://deploy.example.com"], actor }), narrow).allow).toBe(false);
  });

  it("request.time and request.requested_lifetime are ints: int arithmetic and comparison with a claim work at run time", async () => {
    const set = await load({ "p.policy.yaml": githubPolicy("request.time + 3600 > claims.exp && request.requested_lifetime <= 600 && request.time % 2 == 0") });
    const asked = request({ audiences: ["https://deploy.example.com"], requestedLifetimeSeconds: 300 });
    expect(NOW % 2).toBe(0);
    expect(set.evaluate(subject({ issuer: "github-actions", profile: "github-actions" }, { exp: NOW + 300 }), asked, narrow).allow).toBe(true);
    expect(set.evaluate(subject({ issuer: "github-actions", profile: "github-actions" }, { exp: NOW + 7200 }), asked, narrow).allow).toBe(false);
  });

  it("a declared attribute absent from the token: has() is false, a comparison does not hold", async () => {
    const set = await load({
      "a.policy.yaml": githubPolicy(`'!has(identity.attributes.environment) || identity.attributes.environment == "prod"'`),
    });
    const asked = request({ audiences: ["https://deploy.example.com"] });
    expect(set.evaluate(github({}), asked, narrow).allow).toBe(true);
    expect(set.evaluate(github({ environment: "prod" }), asked, narrow).allow).toBe(true);
    expect(set.evaluate(github({ environment: "staging" }), asked, narrow).allow).toBe(false);
    const strict = await load({ "a.policy.yaml": githubPolicy('identity.attributes.environment == "prod"') });
    expect(strict.evaluate(github({}), asked, narrow)).toMatchObject({ allow: false, reason: "no_matching_policy" });
  });
});

describe("warnings", () => {
  it("a condition that reads claims and never identity is a warning, located, and the set still loads", async () => {
    const warnings: PolicyLoadIssue[] = [];
    const set = await load(
      {
        "a.policy.yaml": githubPolicy('claims.repository_id == "1"'),
        "b.policy.yaml": githubPolicy('identity.attributes.repository_id == "1" && claims.ref == "x"').replace("id: github-deploy", "id: b"),
        "c.policy.yaml": githubPolicy('request.scopes.all(claims, claims != "")').replace("id: github-deploy", "id: c"),
      },
      (warning) => warnings.push(warning),
    );
    expect(set.policyIds).toEqual(["github-deploy", "b", "c"]);
    expect(warnings).toEqual([expect.objectContaining({ file: "a.policy.yaml", policyId: "github-deploy", path: "condition", message: expect.stringMatching(/reads `claims` and never `identity`/), line: 3, column: 12 })]);
  });
});
