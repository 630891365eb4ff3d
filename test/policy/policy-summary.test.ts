import { afterEach, describe, expect, it } from "vitest";
import { loadPolicySet, PolicyLoadError } from "../../src/policy/load-policies.js";
import { KNOWN_ISSUERS, policyYaml, tempDir } from "../support/policy.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function load(files: Record<string, string>) {
  const temp = await tempDir(files);
  cleanups.push(temp.cleanup);
  return loadPolicySet(temp.dir, { knownIssuers: KNOWN_ISSUERS });
}

describe("PolicySet.describe()", () => {
  it("gives each policy's owner, description and grant limits, in load order", async () => {
    const set = await load({
      "b.policy.yaml": policyYaml({
        id: "computed",
        workloadId: null,
        tokenTypes: ["access_token", "jwt"],
        grantExtra: [
          '  workload_id_expr: \'"wl/" + identity.subject\'',
          "  spiffe_id: spiffe://broker.local/ci/computed",
          "  delegation:",
          "    actor_condition: actor.identity.issuer == \"local-dev\"",
          "    max_chain_depth: 3",
        ].join("\n"),
      }),
      "a.policy.yaml": policyYaml({ id: "literal", owner: "team-payments <payments@example.com>", description: "Deploys the ledger.", scopes: ["read"], maxLifetime: "5m" }),
    });
    expect(set.describe()).toEqual([
      {
        id: "literal",
        issuer: "local-dev",
        owner: "team-payments <payments@example.com>",
        description: "Deploys the ledger.",
        audiences: ["https://a.example.com"],
        scopes: ["read"],
        tokenTypes: ["access_token"],
        maxLifetimeSeconds: 300,
        delegation: { allowed: false, maxChainDepth: 0 },
        workloadId: "wl/literal",
      },
      {
        id: "computed",
        issuer: "local-dev",
        owner: undefined,
        description: undefined,
        audiences: ["https://a.example.com"],
        scopes: ["read", "write"],
        tokenTypes: ["access_token", "jwt"],
        maxLifetimeSeconds: 600,
        delegation: { allowed: true, maxChainDepth: 3 },
        workloadId: undefined,
      },
    ]);
  });

  it("is read-only: a caller cannot change the set's summaries", async () => {
    const set = await load({ "a.policy.yaml": policyYaml({ id: "a" }) });
    const [summary] = set.describe();
    expect(Object.isFrozen(set.describe())).toBe(true);
    expect(Object.isFrozen(summary)).toBe(true);
    expect(Object.isFrozen(summary?.scopes)).toBe(true);
    expect(Object.isFrozen(summary?.delegation)).toBe(true);
  });

  it("refuses an empty or overlong owner, trimming the one it keeps", async () => {
    const set = await load({ "a.policy.yaml": policyYaml({ id: "a", owner: "  platform-team  " }) });
    expect(set.describe()[0]?.owner).toBe("platform-team");
    for (const owner of ["   ", "x".repeat(201)]) {
      const error = await load({ "a.policy.yaml": policyYaml({ id: "a", owner }) }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(PolicyLoadError);
      expect((error as PolicyLoadError).lines).toEqual([expect.stringMatching(/^a\.policy\.yaml \[a\] owner: /)]);
    }
  });
});
