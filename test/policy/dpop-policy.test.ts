/** The `require_dpop` grant field: loaded, compiled into the grant, and refused where it cannot hold. */
import { describe, expect, it } from "vitest";
import { loadPolicySet, PolicyLoadError } from "../../src/policy/index.js";
import { policyYaml, subject, tempDir, narrow } from "../support/policy.js";

async function load(files: Record<string, string>) {
  return loadPolicySet((await tempDir(files)).dir, { knownIssuers: [{ id: "local-dev", profile: "oidc" }] });
}

const request = {
  audiences: ["https://a.example.com"],
  resources: [],
  scopes: [],
  requestedTokenType: "access_token",
  requestedLifetimeSeconds: undefined,
  clientAddress: "127.0.0.1",
  now: 1_793_534_400,
} as const;

describe("require_dpop", () => {
  it("is false by default and true when the grant says so", async () => {
    const set = await load({
      "a.policy.yaml": policyYaml({ id: "a", condition: 'identity.subject == "a"' }),
      "b.policy.yaml": policyYaml({ id: "b", condition: 'identity.subject == "b"', grantExtra: "  require_dpop: true" }),
    });
    const grantOf = (sub: string) => {
      const decision = set.evaluate(subject({ subject: sub }), request, narrow);
      if (!decision.allow) throw new Error(decision.details.join("; "));
      return decision.grant;
    };
    expect(grantOf("a").requireDpop).toBe(false);
    expect(grantOf("b").requireDpop).toBe(true);
  });

  it("refuses a non-boolean, and a grant that also offers JWT-SVIDs (they cannot be bound)", async () => {
    const error = await load({
      "a.policy.yaml": policyYaml({ id: "a", grantExtra: '  require_dpop: "yes"' }),
      "b.policy.yaml": policyYaml({
        id: "b",
        tokenTypes: ["access_token", "jwt"],
        grantExtra: "  spiffe_id: spiffe://broker.local/wl/b\n  require_dpop: true",
      }),
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PolicyLoadError);
    const message = (error as PolicyLoadError).message;
    expect(message).toMatch(/a\.policy\.yaml.*require_dpop/);
    expect(message).toMatch(/b\.policy\.yaml.*require_dpop.*JWT-SVID cannot be DPoP-bound/);
  });
});
