/**
 * The first false sub-expression of a condition (src/policy/condition-trace.ts), and how it
 * reaches a denial's trace (evaluate) and `PolicySet.explain`.
 */
import { afterEach, describe, expect, it } from "vitest";
import { celBindings } from "../../src/policy/cel-bindings.js";
import { compileCel } from "../../src/policy/cel.js";
import { compileConditionTrace } from "../../src/policy/condition-trace.js";
import { loadPolicySet } from "../../src/policy/load-policies.js";
import type { PolicySet } from "../../src/policy/types.js";
import { KNOWN_ISSUERS, narrow, policyYaml, request, subject, tempDir } from "../support/policy.js";

/** The trace of `source` for a subject with these attributes and claims. */
function traceOf(source: string, attributes: Record<string, string> = {}, claims: Record<string, unknown> = {}) {
  const compiled = compileCel(source);
  if (!compiled.ok) throw new Error(compiled.message);
  const trace = compileConditionTrace(source, compiled.program);
  return trace.firstFailure(celBindings(subject({ attributes }, claims), request()));
}

const PROD = { repository_id: "1", environment: "prod", ref: "refs/heads/main" };

describe("the first part of a condition that is not true", () => {
  it("a condition that holds has no failing part", () => {
    expect(traceOf('identity.attributes.repository_id == "1" && identity.attributes.environment == "prod"', PROD)).toBeUndefined();
  });

  it("names the first false conjunct of a top-level && chain, as written, not a later false one", () => {
    const failure = traceOf(
      'identity.attributes.repository_id == "1" && identity.attributes.environment == "staging" && identity.attributes.ref == "refs/heads/dev"',
      PROD,
    );
    expect(failure).toEqual({ expression: 'identity.attributes.environment == "staging"', result: "false" });
  });

  it("recurses into a parenthesised && and into a chain the parser balanced", () => {
    const source = 'identity.attributes.repository_id == "1" && (identity.attributes.environment == "prod" && (claims.event_name == "push" && claims.actor == "x")) && true';
    expect(traceOf(source, PROD, { event_name: "push", actor: "mallory" })).toEqual({ expression: 'claims.actor == "x"', result: "false" });
  });

  it("says a missing attribute is an error, with the evaluator's message", () => {
    const failure = traceOf('identity.attributes.repository_id == "1" && identity.attributes.team == "payments"', PROD);
    expect(failure).toMatchObject({ expression: 'identity.attributes.team == "payments"', result: "error" });
    expect(failure?.message).toMatch(/team/);
  });

  it("an erroring conjunct before a false one is the first failure (CEL's && would call the whole false)", () => {
    expect(traceOf('claims.missing == "x" && claims.sub == "nobody"')).toMatchObject({ expression: 'claims.missing == "x"', result: "error" });
  });

  it("reports a failing || whole, with what each disjunct gave", () => {
    const failure = traceOf('identity.attributes.repository_id == "1" && (claims.event_name == "push" || claims.event_name == "workflow_dispatch" || claims.nope)', PROD, {
      event_name: "pull_request",
    });
    expect(failure).toMatchObject({
      expression: 'claims.event_name == "push" || claims.event_name == "workflow_dispatch" || claims.nope',
      result: "error",
      disjuncts: [
        { expression: 'claims.event_name == "push"', result: "false" },
        { expression: 'claims.event_name == "workflow_dispatch"', result: "false" },
        { expression: "claims.nope", result: "error" },
      ],
    });
  });

  it("reports a ternary conjunct whole (unparse writes its parts parenthesised)", () => {
    const source = 'identity.attributes.repository_id == "1" && (identity.attributes.environment == "prod" ? identity.attributes.ref == "refs/heads/release" : true)';
    expect(traceOf(source, PROD)).toEqual({
      expression: '(identity.attributes.environment == "prod") ? (identity.attributes.ref == "refs/heads/release") : true',
      result: "false",
    });
  });

  it("keeps macros and negations as written, and tells a non-bool part from a false one", () => {
    expect(traceOf('has(claims.ref) && claims.groups.exists(g, g == "admins")', {}, { ref: "x", groups: ["users"] })).toEqual({
      expression: 'claims.groups.exists(g, g == "admins")',
      result: "false",
    });
    expect(traceOf('!(claims.event_name in ["pull_request"]) && claims.sub', {}, { event_name: "push" })).toEqual({ expression: "claims.sub", result: "not_bool" });
  });

  it("a single-expression condition fails whole", () => {
    expect(traceOf('identity.subject == "someone-else"')).toEqual({ expression: 'identity.subject == "someone-else"', result: "false" });
  });
});

describe("a denial carries the trace; explain gives every verdict", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
  });
  async function setOf(files: Record<string, string>): Promise<PolicySet> {
    const temp = await tempDir(files);
    cleanups.push(temp.cleanup);
    return loadPolicySet(temp.dir, { knownIssuers: KNOWN_ISSUERS });
  }
  const files = {
    "10-gh.policy.yaml": policyYaml({ id: "gh", issuer: "github-actions" }),
    "20-cond.policy.yaml": policyYaml({ id: "cond", condition: 'identity.subject == "demo-workload" && claims.team == "payments"' }),
    "30-scope.policy.yaml": policyYaml({ id: "scope", scopes: ["read"] }),
    "40-wins.policy.yaml": policyYaml({ id: "wins", scopes: ["read", "admin"] }),
    "50-late.policy.yaml": policyYaml({ id: "late" }),
  };

  it("a denial lists each evaluated policy's outcome and the failing part of a false condition", async () => {
    const set = await setOf(files);
    const decision = set.evaluate(subject({}, { team: "ops" }), request({ scopes: ["delete"] }), narrow);
    expect(decision.allow).toBe(false);
    if (decision.allow) return;
    expect(decision.trace).toEqual([
      { policy: "cond", outcome: "condition_false", failed: { expression: 'claims.team == "payments"', result: "false" } },
      { policy: "scope", outcome: "scope_not_granted" },
      { policy: "wins", outcome: "scope_not_granted" },
      { policy: "late", outcome: "scope_not_granted" },
    ]);
  });

  it("explain shows every policy in order (another issuer's, refused, the winner with its grant, the ones never reached) and the same decision", async () => {
    const set = await setOf(files);
    const who = subject({}, { team: "ops" });
    const asked = request({ audiences: ["https://a.example.com"], scopes: ["admin"], requestedLifetimeSeconds: 60 });
    const explanation = set.explain(who, asked, narrow);
    expect(explanation.decision).toEqual(set.evaluate(who, asked, narrow));
    expect(explanation.policies.map((policy) => [policy.id, policy.applied, policy.outcome])).toEqual([
      ["gh", false, "not_applicable"],
      ["cond", true, "condition_false"],
      ["scope", true, "scope_not_granted"],
      ["wins", true, "granted"],
      ["late", true, "not_reached"],
    ]);
    expect(explanation.policies[1]?.failed).toEqual({ expression: 'claims.team == "payments"', result: "false" });
    expect(explanation.policies[2]?.detail).toBe("not granted: admin");
    expect(explanation.policies[3]).toMatchObject({
      grant: { policyId: "wins", workloadId: "wl/wins", scopes: ["read", "admin"] },
      narrowed: { audiences: ["https://a.example.com"], scopes: ["admin"], lifetimeSeconds: 60 },
    });
  });

  it("an actor the actor_condition refuses: the failing part of the actor_condition", async () => {
    const set = await setOf({
      "a.policy.yaml": policyYaml({
        id: "delegated",
        grantExtra: '  delegation:\n    actor_condition: \'actor.identity.issuer == "kubernetes" && actor.identity.attributes.namespace == "release"\'',
      }),
    });
    const actor = { identity: { issuer: "kubernetes", iss: "https://k8s", profile: "kubernetes", subject: "system:serviceaccount:dev:x", attributes: { namespace: "dev" } }, claims: {} };
    const decision = set.evaluate(subject(), request({ actor }), narrow);
    expect(decision).toMatchObject({
      allow: false,
      trace: [{ policy: "delegated", outcome: "actor_not_allowed", failed: { expression: 'actor.identity.attributes.namespace == "release"', result: "false" } }],
    });
  });
});
