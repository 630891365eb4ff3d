import { spawnSync } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generatePolicySchemas, POLICY_DESCRIPTIONS, propertyAt } from "../../src/cli/policy-json-schema.js";
import { lintCoverage } from "../../src/cli/policy-coverage.js";
import { lintPolicies } from "../../src/cli/policy-lint.js";
import { CLI_ARGS } from "../support/compiled-broker.js";
import { ROOT } from "../support/repo-root.js";

const POLICIES = join(ROOT, "policies");

describe("policy JSON Schema", () => {
  it("the committed schema files are what `broker policy schema` generates from the zod schemas", async () => {
    for (const [name, content] of Object.entries(generatePolicySchemas())) {
      const committed = await readFile(join(POLICIES, name), "utf8").catch(() => "(missing)");
      expect(committed, `policies/${name} is stale: run npm run broker -- policy schema`).toBe(content);
    }
  });

  it("describes the fields authors write, and refuses unknown ones as the loader does", () => {
    const schema = JSON.parse(generatePolicySchemas()["policy.schema.json"] ?? "{}") as Record<string, unknown>;
    for (const path of Object.keys(POLICY_DESCRIPTIONS)) expect(propertyAt(schema, path)?.description, path).toBe(POLICY_DESCRIPTIONS[path]);
    expect(schema.additionalProperties).toBe(false);
    expect(propertyAt(schema, "grant")?.additionalProperties).toBe(false);
    expect(schema.required).toEqual(expect.arrayContaining(["id", "issuer", "condition", "grant"]));
  });

  it("every example policy and fixture file names its schema for the YAML language server", async () => {
    for (const file of await readdir(POLICIES)) {
      const first = (await readFile(join(POLICIES, file), "utf8")).split("\n")[0];
      if (file.endsWith(".policy.yaml")) expect(first, file).toBe("# yaml-language-server: $schema=./policy.schema.json");
      if (file.endsWith(".test.yaml")) expect(first, file).toBe("# yaml-language-server: $schema=./policy-test.schema.json");
    }
  });
});

describe("broker policy lint", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "broker-lint-"));
    await writeFile(join(dir, "issuers.yaml"), stringify({ issuers: [{ id: "ci", issuer: "https://ci.example.com", profile: "oidc", keys: { jwks_uri: "https://ci.example.com/jwks" } }] }));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const good = { id: "good", issuer: "ci", condition: 'identity.subject == "a"', grant: { workload_id: "w", audiences: ["https://x.example.com"], max_lifetime: "5m" } };

  it("finds nothing wrong with the example policies", async () => {
    expect(await lintPolicies(POLICIES, join(POLICIES, "issuers.yaml"))).toEqual({ problems: [], warnings: [] });
  });

  it("reports every problem of every file at once, fixtures included, without running fixtures", async () => {
    await writeFile(join(dir, "good.policy.yaml"), stringify(good));
    await writeFile(join(dir, "bad-cel.policy.yaml"), stringify({ ...good, id: "bad-cel", condition: "identity.subject ==" }));
    await writeFile(join(dir, "typo.policy.yaml"), stringify({ ...good, id: "typo", grant: { ...good.grant, scops: ["a"] } }));
    await writeFile(join(dir, "stranger.policy.yaml"), stringify({ ...good, id: "stranger", issuer: "nope" }));
    // A fixture that would fail if run (expects a deny of an allowed case) is still lint-clean.
    const fixtureCase = {
      name: "wrong on purpose",
      now: "2030-01-01T00:00:00Z",
      identity: { issuer: "ci", profile: "oidc", iss: "https://ci.example.com", subject: "a" },
      request: { audiences: ["https://x.example.com"] },
      expect: { allow: false },
    };
    await writeFile(join(dir, "good.test.yaml"), stringify({ policy_tests: [fixtureCase] }));
    await writeFile(
      join(dir, "refs.test.yaml"),
      stringify({ policy_tests: [{ ...fixtureCase, name: "refs", identity: { ...fixtureCase.identity, issuer: "ghost" }, expect: { allow: true, policy: "missing" } }] }),
    );
    await writeFile(join(dir, "broken.test.yaml"), "policy_tests:\n  - name: x\n    nope: 1\n");
    await writeFile(join(dir, "syntax.test.yaml"), "policy_tests: [\n");

    const { problems } = await lintPolicies(dir, join(dir, "issuers.yaml"));
    const text = problems.join("\n");
    expect(text).toMatch(/bad-cel\.policy\.yaml:3:\d+ \[bad-cel\] condition: /);
    expect(text).toMatch(/stranger\.policy\.yaml \[stranger\] issuer: unknown issuer "nope"/);
    expect(text).toMatch(/typo\.policy\.yaml \[typo\] grant.*scops/);
    expect(text).toMatch(/refs\.test\.yaml policy_tests\.0\.identity\.issuer: unknown issuer "ghost" \(case "refs"\)/);
    expect(text).not.toMatch(/expect\.policy/); // the policy set did not load: nothing to check ids against
    expect(text).toMatch(/broken\.test\.yaml policy_tests\.0/);
    expect(text).toMatch(/syntax\.test\.yaml: YAML: /);
    expect(text).not.toMatch(/good\.(policy|test)\.yaml/);
  });

  it("checks fixture policy ids once the policies load, and the CLI exits 1 on any problem", async () => {
    await writeFile(join(dir, "good.policy.yaml"), stringify(good));
    const fixture = {
      policy_tests: [
        {
          name: "refs",
          now: "2030-01-01T00:00:00Z",
          identity: { issuer: "ci", profile: "oidc", iss: "https://ci.example.com", subject: "a" },
          expect: { allow: true, policy: "missing" },
        },
      ],
    };
    await writeFile(join(dir, "refs.test.yaml"), stringify(fixture));
    expect(await lintPolicies(dir, join(dir, "issuers.yaml"))).toEqual({
      problems: ['refs.test.yaml policy_tests.0.expect.policy: no policy has id "missing" (case "refs")'],
      warnings: [],
    });
    const cli = (policyDir: string) => spawnSync(process.execPath, [...CLI_ARGS, "policy", "lint", "--dir", policyDir], { cwd: ROOT, encoding: "utf8" });
    const failing = cli(dir);
    expect(failing.status).toBe(1);
    // The CLI also runs the fixtures: the case names a policy that did not grant it, so `good` is uncovered.
    expect(failing.stdout).toBe(
      [
        'refs.test.yaml policy_tests.0.expect.policy: no policy has id "missing" (case "refs")',
        'refs.test.yaml: fixture "refs" failed: expected policy missing, got good',
        "good.policy.yaml [good]: no allow fixture",
        "good.policy.yaml [good]: no deny fixture",
        "4 problems",
        "",
      ].join("\n"),
    );
    const clean = cli(POLICIES);
    expect(clean.status, clean.stdout + clean.stderr).toBe(0);
  }, 30_000);
});

describe("broker policy lint: fixture coverage and owners", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "broker-lint-"));
    await writeFile(join(dir, "issuers.yaml"), stringify({ issuers: [{ id: "ci", issuer: "https://ci.example.com", profile: "oidc", keys: { jwks_uri: "https://ci.example.com/jwks" } }] }));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const policy = (id: string, who: string, owner?: string) => ({
    id,
    ...(owner === undefined ? {} : { owner }),
    issuer: "ci",
    condition: `identity.subject == "${who}"`,
    grant: { workload_id: `w/${id}`, audiences: ["https://x.example.com"], max_lifetime: "5m" },
  });
  const fixtureCase = (name: string, who: string, expect: Record<string, unknown>) => ({
    name,
    now: "2030-01-01T00:00:00Z",
    identity: { issuer: "ci", profile: "oidc", iss: "https://ci.example.com", subject: who },
    request: { audiences: ["https://x.example.com"] },
    expect,
  });
  const cli = (...args: string[]) => (env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [...CLI_ARGS, "policy", "lint", "--dir", dir, ...args], { cwd: ROOT, encoding: "utf8", env: { PATH: process.env.PATH ?? "", ...env } });

  it("reports each policy without an allow or a deny fixture; a deny covers every policy it was evaluated by", async () => {
    await writeFile(join(dir, "a.policy.yaml"), stringify(policy("a", "alice")));
    await writeFile(join(dir, "b.policy.yaml"), stringify(policy("b", "bob")));
    // Alice is allowed by a; mallory is evaluated by a and b and refused by both.
    await writeFile(join(dir, "a.test.yaml"), stringify({ policy_tests: [fixtureCase("alice", "alice", { allow: true, policy: "a" }), fixtureCase("mallory", "mallory", { allow: false })] }));
    expect(await lintPolicies(dir, join(dir, "issuers.yaml"))).toEqual({ problems: [], warnings: [] });
    expect(await lintCoverage(dir, join(dir, "issuers.yaml"))).toEqual(["b.policy.yaml [b]: no allow fixture"]);

    await writeFile(join(dir, "b.test.yaml"), stringify({ policy_tests: [fixtureCase("bob", "bob", { allow: true, policy: "b" })] }));
    expect(await lintCoverage(dir, join(dir, "issuers.yaml"))).toEqual([]);
  });

  it("a set that does not load gives no coverage problems: the load problems say why", async () => {
    await writeFile(join(dir, "a.policy.yaml"), stringify({ ...policy("a", "alice"), condition: "identity.subject ==" }));
    expect(await lintCoverage(dir, join(dir, "issuers.yaml"))).toEqual([]);
  });

  it("the CLI reports coverage gaps, and missing owners with --require-owner or BROKER_POLICY_REQUIRE_OWNER", async () => {
    await writeFile(join(dir, "a.policy.yaml"), stringify(policy("a", "alice", "team-a")));
    await writeFile(join(dir, "b.policy.yaml"), stringify(policy("b", "bob")));
    await writeFile(
      join(dir, "all.test.yaml"),
      stringify({ policy_tests: [fixtureCase("alice", "alice", { allow: true, policy: "a" }), fixtureCase("bob", "bob", { allow: true, policy: "b" }), fixtureCase("mallory", "mallory", { allow: false })] }),
    );
    const plain = cli()();
    expect(plain.status, plain.stderr).toBe(0);
    expect(plain.stdout).toBe(`${dir}: no problems\n`);

    const ownerLine = "b.policy.yaml [b] owner: no owner (a team or contact is required)";
    for (const run of [cli("--require-owner")(), cli()({ BROKER_POLICY_REQUIRE_OWNER: "true" })]) {
      expect(run.status, run.stderr).toBe(1);
      expect(run.stdout).toBe(`${ownerLine}\n1 problem\n`);
    }
    const bad = cli()({ BROKER_POLICY_REQUIRE_OWNER: "yes" });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe('BROKER_POLICY_REQUIRE_OWNER: must be true, false, 1 or 0 (got "yes")\n');

    await rm(join(dir, "all.test.yaml"));
    const uncovered = cli()();
    expect(uncovered.status).toBe(1);
    expect(uncovered.stdout).toBe(
      ["a.policy.yaml [a]: no allow fixture", "a.policy.yaml [a]: no deny fixture", "b.policy.yaml [b]: no allow fixture", "b.policy.yaml [b]: no deny fixture", "4 problems", ""].join("\n"),
    );
  }, 60_000);
});
