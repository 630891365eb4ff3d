import { afterEach, describe, expect, it } from "vitest";
import { loadPolicySet, PolicyLoadError } from "../../src/policy/load-policies.js";
import { KNOWN_ISSUERS, policyYaml, request, subject, tempDir, narrow } from "../support/policy.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function dirWith(files: Record<string, string>) {
  const temp = await tempDir(files);
  cleanups.push(temp.cleanup);
  return temp;
}

async function loadError(dir: string): Promise<PolicyLoadError> {
  const error: unknown = await loadPolicySet(dir, { knownIssuers: KNOWN_ISSUERS }).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(PolicyLoadError);
  return error as PolicyLoadError;
}

describe("loadPolicySet", () => {
  it("loads *.policy.yaml in sorted file-name order and ignores other files", async () => {
    const { dir } = await dirWith({
      "b.policy.yaml": policyYaml({ id: "second" }),
      "a.policy.yaml": policyYaml({ id: "first" }),
      "issuers.yaml": "issuers: [this is not a policy]\n",
      "a.test.yaml": "policy_tests: []\n",
      "README.md": "# notes\n",
    });
    const set = await loadPolicySet(dir, { knownIssuers: KNOWN_ISSUERS });
    expect(set.policyIds).toEqual(["first", "second"]);
    expect(set.version).toMatch(/^[0-9a-f]{64}$/);
  });

  it("describe() answers what each policy can grant, in load order: literal workload id or none, owner, delegation", async () => {
    const { dir } = await dirWith({
      "a.policy.yaml": `owner: team-a\ndescription: first one\n${policyYaml({ id: "lit", scopes: ["read"], tokenTypes: ["access_token", "jwt"], grantExtra: "  spiffe_id: spiffe://broker.local/lit\n  delegation:\n    actor_condition: 'true'\n    max_chain_depth: 2" })}`,
      "b.policy.yaml": policyYaml({ id: "expr", workloadId: null, scopes: [], maxLifetime: "5m", grantExtra: `  workload_id_expr: '"wl/" + identity.subject'` }),
    });
    const set = await loadPolicySet(dir, { knownIssuers: KNOWN_ISSUERS });
    expect(set.describe()).toEqual([
      {
        id: "lit",
        issuer: "local-dev",
        owner: "team-a",
        description: "first one",
        audiences: ["https://a.example.com"],
        scopes: ["read"],
        tokenTypes: ["access_token", "jwt"],
        maxLifetimeSeconds: 600,
        delegation: { allowed: true, maxChainDepth: 2 },
        workloadId: "wl/lit",
      },
      {
        id: "expr",
        issuer: "local-dev",
        owner: undefined,
        description: undefined,
        audiences: ["https://a.example.com"],
        scopes: [],
        tokenTypes: ["access_token"],
        maxLifetimeSeconds: 300,
        delegation: { allowed: false, maxChainDepth: 0 },
        workloadId: undefined,
      },
    ]);
  });

  it("derives the version from names and contents", async () => {
    const one = await dirWith({ "a.policy.yaml": policyYaml({ id: "a" }) });
    const same = await dirWith({ "a.policy.yaml": policyYaml({ id: "a" }) });
    const renamed = await dirWith({ "b.policy.yaml": policyYaml({ id: "a" }) });
    const load = (dir: string) => loadPolicySet(dir, { knownIssuers: KNOWN_ISSUERS });
    const [v1, v2, v3] = await Promise.all([load(one.dir), load(same.dir), load(renamed.dir)]);
    expect(v1.version).toBe(v2.version);
    expect(v3.version).not.toBe(v1.version);
    await one.write("a.policy.yaml", policyYaml({ id: "a", scopes: ["read"] }));
    expect((await load(one.dir)).version).not.toBe(v1.version);
  });

  it("lists every error of every file at once, with file, policy id and field", async () => {
    const { dir } = await dirWith({
      "1-lifetime.policy.yaml": policyYaml({ id: "too-long", maxLifetime: "2h", audiences: [] }),
      "2-issuer.policy.yaml": policyYaml({ id: "stranger", issuer: "evil-idp", condition: "claims.sub ==" }),
      "3-reserved.policy.yaml": policyYaml({
        id: "reserved",
        grantExtra: "  workload_id_expr: '\"x/\" + identity.subject'\n  claims:\n    sub: identity.subject\n    team: '\"payments\"'",
      }),
      "4-dup.policy.yaml": policyYaml({ id: "too-long" }),
      "5-yaml.policy.yaml": "id: broken\ncondition: [unclosed\n",
      "6-unknown-field.policy.yaml": `${policyYaml({ id: "extra-field" })}effect: allow\n`,
      "7-bad-id.policy.yaml": policyYaml({ id: "Bad_Id" }),
    });
    const error = await loadError(dir);
    const lines = error.lines;
    const expected: [string, RegExp][] = [
      ["1-lifetime.policy.yaml [too-long] grant.max_lifetime:", /exceeds/],
      ["1-lifetime.policy.yaml [too-long] grant.audiences:", /at least one/],
      ["2-issuer.policy.yaml [stranger] issuer:", /unknown issuer "evil-idp"/],
      ["2-issuer.policy.yaml:3:26 [stranger] condition:", /CEL syntax error: Unexpected token: EOF\n {4}condition: "claims.sub =="\n {29}\^/],
      ["3-reserved.policy.yaml [reserved] grant.claims.sub:", /reserved/],
      ["3-reserved.policy.yaml [reserved] grant.workload_id:", /exactly one/],
      ["4-dup.policy.yaml [too-long] id:", /duplicate policy id, already defined in 1-lifetime.policy.yaml/],
      ["5-yaml.policy.yaml:", /YAML/],
      ["6-unknown-field.policy.yaml [extra-field]", /effect/],
      ["7-bad-id.policy.yaml [Bad_Id] id:", /must match/],
    ];
    for (const [prefix, message] of expected) {
      const line = lines.find((candidate) => candidate.startsWith(prefix) && message.test(candidate));
      expect(line, `${prefix} ${String(message)} in\n${lines.join("\n")}`).toBeDefined();
    }
    expect(error.message).toContain("1-lifetime.policy.yaml [too-long] grant.max_lifetime");
  });

  it("reports a reserved claim even when the rest of the grant is valid", async () => {
    const { dir } = await dirWith({
      "r.policy.yaml": policyYaml({ id: "r", grantExtra: "  claims:\n    act: '\"me\"'\n    cnf: '\"x\"'" }),
    });
    const lines = (await loadError(dir)).lines;
    expect(lines).toEqual([expect.stringMatching(/^r\.policy\.yaml \[r\] grant\.claims\.act: .*reserved/), expect.stringMatching(/grant\.claims\.cnf: .*reserved/)]);
  });

  it("refuses both workload_id and workload_id_expr", async () => {
    const { dir } = await dirWith({
      "w.policy.yaml": policyYaml({ id: "w", workloadId: "fixed", grantExtra: "  workload_id_expr: identity.subject" }),
    });
    expect((await loadError(dir)).lines).toEqual(["w.policy.yaml [w] grant.workload_id: set exactly one of workload_id and workload_id_expr"]);
  });

  it("refuses neither workload_id nor workload_id_expr", async () => {
    const { dir } = await dirWith({ "w.policy.yaml": policyYaml({ id: "w", workloadId: null }) });
    expect((await loadError(dir)).lines[0]).toMatch(/grant\.workload_id: set exactly one/);
  });

  it("refuses CEL that names unknown variables or functions, in every expression", async () => {
    const { dir } = await dirWith({
      "c.policy.yaml": policyYaml({
        id: "c",
        condition: "idenity.subject == 'x'",
        workloadId: null,
        grantExtra: "  workload_id_expr: subject\n  claims:\n    team: 'claims.team + '\n    odd: claims.sub.frobnicate()",
      }),
    });
    const lines = (await loadError(dir)).lines;
    expect(lines).toContainEqual(expect.stringMatching(/^c\.policy\.yaml:3:13 \[c\] condition: Unknown variable: idenity \(use identity, claims, request, actor\)/));
    expect(lines).toContainEqual(expect.stringMatching(/\[c\] grant\.workload_id_expr: Unknown variable: subject/));
    expect(lines).toContainEqual(expect.stringMatching(/\[c\] grant\.claims\.team: CEL syntax error/));
    expect(lines).toContainEqual(expect.stringMatching(/\[c\] grant\.claims\.odd: found no matching overload for 'dyn\.frobnicate\(\)'|\[c\] grant\.claims\.odd: unknown function 'frobnicate'/));
  });

  it("accepts comprehension variables, type names and extension functions", async () => {
    const { dir } = await dirWith({
      "ok.policy.yaml": policyYaml({
        id: "ok",
        condition: "request.scopes.all(s, s.startsWith('r')) && type(claims.sub) == string && claims.sub.lowerAscii() == 'demo-workload' && [1, 2].exists(x, x == 2) && !has(claims.nope) && has(identity.attributes.email)",
      }),
    });
    const set = await loadPolicySet(dir, { knownIssuers: KNOWN_ISSUERS });
    expect(set.evaluate(subject({ attributes: { email: "t@example.com" } }), request({ scopes: ["read"] }), narrow).allow).toBe(true);
  });

  it("refuses bad values: lifetime format, token type, scope token, workload id", async () => {
    const { dir } = await dirWith({
      "v.policy.yaml": policyYaml({ id: "v", maxLifetime: "ten minutes", tokenTypes: ["refresh_token"], scopes: ["has space"], workloadId: "'has space'" }),
    });
    const lines = (await loadError(dir)).lines;
    for (const path of ["grant.max_lifetime", "grant.token_types.0", "grant.scopes.0", "grant.workload_id"]) {
      expect(lines, lines.join("\n")).toContainEqual(expect.stringContaining(`[v] ${path}:`));
    }
  });

  it("refuses several YAML documents in one file and duplicate keys", async () => {
    const { dir } = await dirWith({
      "multi.policy.yaml": `${policyYaml({ id: "m1" })}---\n${policyYaml({ id: "m2" })}`,
      "dupkey.policy.yaml": `${policyYaml({ id: "d" })}id: d2\n`,
    });
    const lines = (await loadError(dir)).lines;
    expect(lines).toContainEqual(expect.stringMatching(/^multi\.policy\.yaml: YAML: .*multiple documents/));
    expect(lines).toContainEqual(expect.stringMatching(/^dupkey\.policy\.yaml: YAML: .*unique/));
  });

  it("never half-loads: one bad file fails the whole set", async () => {
    const { dir } = await dirWith({
      "a.policy.yaml": policyYaml({ id: "good" }),
      "b.policy.yaml": policyYaml({ id: "bad", issuer: "unknown" }),
    });
    const error = await loadError(dir);
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]).toMatchObject({ file: "b.policy.yaml", policyId: "bad", path: "issuer" });
  });

  it("treats a missing directory as an error, not as an empty set", async () => {
    const error = await loadError("/nonexistent/policies-dir");
    expect(error.lines[0]).toMatch(/cannot read policy directory/);
  });
});
