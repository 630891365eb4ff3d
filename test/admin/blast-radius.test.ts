import { describe, expect, it } from "vitest";
import { blastRadius, policiesMinting, unusedGrants } from "../../src/admin/blast-radius.js";
import type { PolicySummary } from "../../src/policy/types.js";

const policy = (overrides: Partial<PolicySummary>): PolicySummary => ({
  id: "p",
  issuer: "iss",
  owner: undefined,
  description: undefined,
  audiences: ["https://a"],
  scopes: [],
  tokenTypes: ["access_token"],
  maxLifetimeSeconds: 600,
  delegation: { allowed: false, maxChainDepth: 0 },
  workloadId: undefined,
  ...overrides,
});

describe("blastRadius", () => {
  it("is the union over the policies: audiences × max(1, scopes) × token types, the longest lifetime, the deepest delegation", () => {
    const radius = blastRadius([
      policy({ id: "a", audiences: ["https://a", "https://b"], scopes: ["r"], maxLifetimeSeconds: 300 }),
      policy({ id: "b", audiences: ["https://b", "https://c"], scopes: ["r", "w"], tokenTypes: ["access_token", "jwt"], maxLifetimeSeconds: 1800, delegation: { allowed: true, maxChainDepth: 3 } }),
    ]);
    expect(radius).toEqual({
      audiences: ["https://a", "https://b", "https://c"],
      scopes: ["r", "w"],
      tokenTypes: ["access_token", "jwt"],
      maxLifetimeSeconds: 1800,
      delegation: { allowed: true, maxChainDepth: 3 },
      size: 3 * 2 * 2,
    });
  });

  it("counts a grant without scopes once per audience and token type; no policy is nothing", () => {
    expect(blastRadius([policy({ audiences: ["https://a", "https://b"] })]).size).toBe(2);
    expect(blastRadius([])).toMatchObject({ size: 0, maxLifetimeSeconds: 0, delegation: { allowed: false, maxChainDepth: undefined } });
  });
});

describe("policiesMinting and unusedGrants", () => {
  const literal = policy({ id: "lit", workloadId: "wl-1" });
  const expr = policy({ id: "expr" });
  it("a workload is minted by the policy naming it, and by the workload_id_expr policies that did mint it", () => {
    expect(policiesMinting("wl-1", [literal, expr], []).map((p) => p.id)).toEqual(["lit"]);
    expect(policiesMinting("wl-2", [literal, expr], ["expr", "lit", "gone"]).map((p) => p.id)).toEqual(["expr"]);
  });

  it("lists what each policy grants that was never asked for, and leaves out policies fully used", () => {
    const wide = policy({ id: "wide", owner: "team", audiences: ["https://a", "https://b"], scopes: ["r", "w"], tokenTypes: ["access_token", "jwt"] });
    const used = policy({ id: "used" });
    const found = unusedGrants([wide, used], [
      { policyId: "wide", audiences: ["https://a"], scopes: ["r"], tokenTypes: ["access_token"], lastUsedMs: 5 },
      { policyId: "used", audiences: ["https://a"], scopes: [], tokenTypes: ["access_token"], lastUsedMs: 6 },
    ]);
    expect(found).toEqual([{ policyId: "wide", owner: "team", audiences: ["https://b"], scopes: ["w"], tokenTypes: ["jwt"], lastUsedMs: 5 }]);
  });
});
