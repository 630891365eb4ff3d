import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { attenuate, narrowWithin } from "../../src/authorization/attenuate.js";
import { loadPolicySet } from "../../src/policy/load-policies.js";
import type { Narrow, PolicySet } from "../../src/policy/types.js";
import { KNOWN_ISSUERS, NOW, policyYaml, request, subject, tempDir, narrow } from "../support/policy.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function setOf(files: Record<string, string>): Promise<PolicySet> {
  const temp = await tempDir(files);
  cleanups.push(temp.cleanup);
  return loadPolicySet(temp.dir, { knownIssuers: KNOWN_ISSUERS });
}

describe("deny by default", () => {
  it("an empty directory denies everything", async () => {
    const set = await setOf({});
    const decision = set.evaluate(subject(), request({ audiences: ["https://a.example.com"] }), narrow);
    expect(decision).toMatchObject({ allow: false, reason: "no_matching_policy", evaluated: [] });
  });

  it("policies of another issuer are not even evaluated", async () => {
    const set = await setOf({ "a.policy.yaml": policyYaml({ id: "gh", issuer: "github-actions" }) });
    const decision = set.evaluate(subject({ issuer: "local-dev" }), request(), narrow);
    expect(decision).toMatchObject({ allow: false, reason: "no_matching_policy", evaluated: [] });
  });

  it("a condition that errors (missing claim) or is not a bool does not hold, and says why", async () => {
    const set = await setOf({
      "a.policy.yaml": policyYaml({ id: "missing", condition: "claims.team == 'payments'" }),
      "b.policy.yaml": policyYaml({ id: "not-bool", condition: "claims.sub" }),
      "c.policy.yaml": policyYaml({ id: "no-hold", condition: "claims.sub == 'nobody'" }),
    });
    const decision = set.evaluate(subject(), request(), narrow);
    expect(decision.allow).toBe(false);
    if (decision.allow) return;
    expect(decision.reason).toBe("no_matching_policy");
    expect(decision.evaluated).toEqual(["missing", "not-bool", "no-hold"]);
    expect(decision.details[0]).toMatch(/^missing: condition_false: .*error: .*team/);
    expect(decision.details[1]).toMatch(/^not-bool: condition_false: .*string "demo-workload"/);
    expect(decision.details[2]).toBe("no-hold: condition_false: condition is false");
  });
});

describe("evaluation order and reasons", () => {
  it("the first matching policy in file-name order wins", async () => {
    const set = await setOf({
      "20-second.policy.yaml": policyYaml({ id: "second" }),
      "10-first.policy.yaml": policyYaml({ id: "first" }),
    });
    const decision = set.evaluate(subject(), request(), narrow);
    expect(decision).toMatchObject({ allow: true, grant: { policyId: "first", workloadId: "wl/first" }, evaluated: ["first"] });
  });

  it("a policy that does not cover the request lets a later one grant it", async () => {
    const set = await setOf({
      "1.policy.yaml": policyYaml({ id: "narrow", scopes: ["read"] }),
      "2.policy.yaml": policyYaml({ id: "wide", scopes: ["read", "write"] }),
    });
    const decision = set.evaluate(subject(), request({ scopes: ["write"] }), narrow);
    expect(decision).toMatchObject({ allow: true, grant: { policyId: "wide" }, evaluated: ["narrow", "wide"] });
  });

  it.each([
    ["target_not_granted", request({ audiences: ["https://other.example.com"] })],
    ["target_not_granted", request({ resources: ["https://other.example.com"] })],
    ["scope_not_granted", request({ scopes: ["admin"] })],
    ["token_type_not_granted", request({ requestedTokenType: "jwt" })],
  ] as const)("denies with %s", async (reason, asked) => {
    const set = await setOf({ "a.policy.yaml": policyYaml({ id: "a" }) });
    const decision = set.evaluate(subject(), asked, narrow);
    expect(decision).toMatchObject({ allow: false, reason, evaluated: ["a"] });
  });

  it("reports the most specific reason across policies whose condition held", async () => {
    const set = await setOf({
      "1.policy.yaml": policyYaml({ id: "wrong-target", audiences: ["https://x.example.com"] }),
      "2.policy.yaml": policyYaml({ id: "wrong-scope", scopes: ["read"] }),
      "3.policy.yaml": policyYaml({ id: "no-match", condition: "false" }),
    });
    const decision = set.evaluate(subject(), request({ audiences: ["https://a.example.com"], scopes: ["write"] }), narrow);
    expect(decision).toMatchObject({ allow: false, reason: "scope_not_granted", evaluated: ["wrong-target", "wrong-scope", "no-match"] });
    if (!decision.allow) expect(decision.details).toHaveLength(3);
  });

  it("with several audiences granted, a request must name one", async () => {
    const set = await setOf({ "a.policy.yaml": policyYaml({ id: "a", audiences: ["https://a.example.com", "https://b.example.com"] }) });
    expect(set.evaluate(subject(), request(), narrow)).toMatchObject({ allow: false, reason: "target_not_granted" });
    expect(set.evaluate(subject(), request({ resources: ["https://b.example.com"] }), narrow)).toMatchObject({ allow: true });
  });
});

describe("grants", () => {
  it("returns the policy's bounds; attenuation narrows the request within them", async () => {
    const set = await setOf({
      "a.policy.yaml": policyYaml({ id: "a", audiences: ["https://a.example.com", "https://b.example.com"], scopes: ["read", "write"], maxLifetime: "15m", tokenTypes: ["access_token", "jwt"], grantExtra: "  spiffe_id: spiffe://broker.local/wl/a" }),
    });
    const asked = request({ audiences: ["https://b.example.com"], scopes: ["read"], requestedLifetimeSeconds: 3000, requestedTokenType: "jwt" });
    const decision = set.evaluate(subject(), asked, narrow);
    if (!decision.allow) throw new Error(`expected allow: ${decision.details.join("; ")}`);
    expect(decision.grant).toEqual({
      policyId: "a",
      workloadId: "wl/a",
      audiences: ["https://a.example.com", "https://b.example.com"],
      scopes: ["read", "write"],
      maxLifetimeSeconds: 900,
      tokenTypes: ["access_token", "jwt"],
      spiffeId: "spiffe://broker.local/wl/a",
      dnsNames: [],
      extraClaims: {},
      requireDpop: false,
    });
    expect(attenuate(decision.grant, asked, 600)).toEqual({ ok: true, audiences: ["https://b.example.com"], scopes: ["read"], lifetimeSeconds: 600 });
  });

  it("narrows with the attenuation it is given, once per grant whose condition holds, and hands the winner's narrowing back", async () => {
    const set = await setOf({
      "1.policy.yaml": policyYaml({ id: "wrong-target", audiences: ["https://x.example.com"] }),
      "2.policy.yaml": policyYaml({ id: "a", audiences: ["https://a.example.com", "https://b.example.com"], scopes: ["read", "write"], maxLifetime: "15m" }),
    });
    const asked = request({ audiences: ["https://b.example.com"], scopes: ["read"], requestedLifetimeSeconds: 3000 });
    const narrowed: string[][] = [];
    const counting: Narrow = (limits, req) => {
      narrowed.push([...limits.audiences]);
      return narrowWithin(600)(limits, req);
    };
    const decision = set.evaluate(subject(), asked, counting);
    expect(narrowed).toEqual([["https://x.example.com"], ["https://a.example.com", "https://b.example.com"]]);
    expect(decision).toMatchObject({ allow: true, narrowed: { audiences: ["https://b.example.com"], scopes: ["read"], lifetimeSeconds: 600 } });
  });

  it("computes the workload id and extra claims from CEL", async () => {
    const set = await setOf({
      "a.policy.yaml": policyYaml({
        id: "a",
        workloadId: null,
        grantExtra: [
          `  workload_id_expr: '"team/" + identity.attributes.email + "/" + identity.subject'`,
          "  claims:",
          "    team: identity.attributes.email",
          "    build: claims.build",
          "    retries: 3",
          "    ratio: claims.ratio",
          "    protected: claims.protected == 'true'",
          "    groups: claims.groups.filter(g, g.startsWith('eng-'))",
          "    asked_lifetime: request.requested_lifetime",
        ].join("\n"),
      }),
    });
    const who = subject({ attributes: { email: "payments@example.com" } }, { build: "b-17", ratio: 0.5, protected: "true", groups: ["eng-core", "sales", "eng-infra"] });
    const decision = set.evaluate(who, request({ requestedLifetimeSeconds: 120 }), narrow);
    if (!decision.allow) throw new Error(decision.details.join("; "));
    expect(decision.grant.workloadId).toBe("team/payments@example.com/demo-workload");
    expect(decision.grant.extraClaims).toEqual({
      team: "payments@example.com",
      build: "b-17",
      retries: 3,
      ratio: 0.5,
      protected: true,
      groups: ["eng-core", "eng-infra"],
      asked_lifetime: 120,
    });
  });

  // Wrong types a load catches are in cel-typecheck.test.ts; a `dyn` (claims) can still be wrong at run time.
  it("a workload_id_expr that errors or gives a bad id makes the policy not match, with a detail", async () => {
    const set = await setOf({
      "1.policy.yaml": policyYaml({ id: "missing", workloadId: null, grantExtra: "  workload_id_expr: claims.nope" }),
      "2.policy.yaml": policyYaml({ id: "spaces", workloadId: null, grantExtra: "  workload_id_expr: '\"has space\"'" }),
      "3.policy.yaml": policyYaml({ id: "number", workloadId: null, grantExtra: "  workload_id_expr: 'dyn(42)'" }),
      "4.policy.yaml": policyYaml({ id: "empty", workloadId: null, grantExtra: "  workload_id_expr: '\"\"'" }),
    });
    const decision = set.evaluate(subject(), request(), narrow);
    expect(decision).toMatchObject({ allow: false, reason: "no_matching_policy", evaluated: ["missing", "spaces", "number", "empty"] });
    if (decision.allow) return;
    for (const detail of decision.details) expect(detail).toMatch(/grant_error: workload_id_expr did not give a valid workload id/);
  });

  it("a claim expression that errors or has the wrong type makes the policy not match; a later one may", async () => {
    const set = await setOf({
      "1.policy.yaml": policyYaml({ id: "bad-claim", grantExtra: "  claims:\n    team: claims.team" }),
      "2.policy.yaml": policyYaml({ id: "map-claim", grantExtra: "  claims:\n    everything: dyn(claims)" }),
      "3.policy.yaml": policyYaml({ id: "fallback" }),
    });
    const decision = set.evaluate(subject(), request(), narrow);
    expect(decision).toMatchObject({ allow: true, grant: { policyId: "fallback" }, evaluated: ["bad-claim", "map-claim", "fallback"] });
  });

  it("sees the request: time, lifetime, client address, audiences", async () => {
    const set = await setOf({
      "a.policy.yaml": policyYaml({
        id: "a",
        condition: `request.time == ${NOW} && request.requested_lifetime == 0 && request.client_address.startsWith('10.') && 'https://a.example.com' in request.audiences && request.requested_token_type == 'access_token'`,
      }),
    });
    expect(set.evaluate(subject(), request({ clientAddress: "10.1.2.3", audiences: ["https://a.example.com"] }), narrow).allow).toBe(true);
    expect(set.evaluate(subject(), request({ clientAddress: "192.168.1.1", audiences: ["https://a.example.com"] }), narrow).allow).toBe(false);
    expect(set.evaluate(subject(), request({ clientAddress: "10.1.2.3", audiences: ["https://a.example.com"], now: NOW + 1 }), narrow).allow).toBe(false);
  });

  it("treats a claim named $typeName as data, not as a protobuf message", async () => {
    const set = await setOf({ "a.policy.yaml": policyYaml({ id: "a", condition: "claims.nested.x == 'y'" }) });
    const decision = set.evaluate(subject({}, { nested: { $typeName: "google.protobuf.Duration", x: "y" } }), request(), narrow);
    expect(decision.allow).toBe(true);
  });
});

describe("regular expressions", () => {
  it("matches() is linear-time (RE2): a catastrophic-backtracking pattern returns on a long input", async () => {
    const set = await setOf({ "a.policy.yaml": policyYaml({ id: "a", condition: 'claims.sub.matches("^(a+)+$")' }) });
    const hostile = `${"a".repeat(100_000)}!`;
    const decision = set.evaluate(subject({ subject: hostile }, { sub: hostile }), request(), narrow);
    expect(decision).toMatchObject({ allow: false, reason: "no_matching_policy" });
    expect(set.evaluate(subject({}, { sub: "aaaa" }), request(), narrow).allow).toBe(true);
  });
});

describe("property: an allow never exceeds the policy", () => {
  it("for random requests the granted audiences and scopes lie within the policy's", async () => {
    const audiences = ["https://a.example.com", "https://b.example.com"];
    const scopes = ["read", "write"];
    const set = await setOf({
      "a.policy.yaml": policyYaml({ id: "a", audiences, scopes, tokenTypes: ["access_token"] }),
      "b.policy.yaml": policyYaml({ id: "b", audiences: ["https://c.example.com"], scopes: [], condition: "claims.sub == 'other'" }),
    });
    const target = fc.constantFrom("https://a.example.com", "https://b.example.com", "https://c.example.com", "https://evil.example.com");
    const scope = fc.constantFrom("read", "write", "admin", "delete");
    fc.assert(
      fc.property(
        fc.array(target, { maxLength: 3 }),
        fc.array(target, { maxLength: 2 }),
        fc.array(scope, { maxLength: 4 }),
        fc.constantFrom("access_token" as const, "jwt" as const),
        fc.option(fc.integer({ min: 1, max: 100_000 }), { nil: undefined }),
        fc.constantFrom("demo-workload", "other"),
        (aud, res, sc, tokenType, lifetime, sub) => {
          const asked = request({ audiences: aud, resources: res, scopes: sc, requestedTokenType: tokenType, requestedLifetimeSeconds: lifetime });
          const decision = set.evaluate(subject({ subject: sub }, { sub }), asked, narrow);
          if (!decision.allow) return;
          const policy = decision.grant.policyId === "a" ? { audiences, scopes } : { audiences: ["https://c.example.com"], scopes: [] as string[] };
          for (const a of decision.grant.audiences) expect(policy.audiences).toContain(a);
          for (const s of decision.grant.scopes) expect(policy.scopes).toContain(s);
          expect(decision.grant.tokenTypes).toContain(tokenType);
          const narrowed = attenuate(decision.grant, asked, 3600);
          expect(narrowed.ok).toBe(true);
          if (!narrowed.ok) return;
          for (const a of narrowed.audiences) expect(policy.audiences).toContain(a);
          for (const s of narrowed.scopes) expect(policy.scopes).toContain(s);
          for (const a of [...aud, ...res]) expect(policy.audiences).toContain(a);
          for (const s of sc) expect(policy.scopes).toContain(s);
          expect(narrowed.lifetimeSeconds).toBeLessThanOrEqual(600);
        },
      ),
      { numRuns: 300 },
    );
  });
});
