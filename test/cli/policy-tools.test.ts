import { spawnSync } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generatePolicySchemas, POLICY_DESCRIPTIONS, propertyAt } from "../../src/cli/policy-json-schema.js";
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
    expect(failing.stdout).toMatch(/no policy has id "missing"[\s\S]*1 problem\n$/);
    const clean = cli(POLICIES);
    expect(clean.status, clean.stdout + clean.stderr).toBe(0);
  }, 30_000);
});
