import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PROFILE_ATTRIBUTES, PROFILES } from "../../src/identity/profiles/index.js";
import { PROFILE_NAMES } from "../../src/identity/types.js";
import { githubActionsClaims, gitlabCiClaims, kubernetesClaims, spiffeClaims } from "../support/test-issuer.js";

/** A claim value of any JSON shape a token could carry. */
const claimValue = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 2 }), fc.dictionary(fc.string(), fc.string(), { maxKeys: 2 }));

/** Extra claims: random names, plus every declared attribute name of every profile, so near-misses are tried too. */
const extraClaims = fc.dictionary(
  fc.oneof(fc.string({ minLength: 1, maxLength: 12 }), fc.constantFrom(...Object.values(PROFILE_ATTRIBUTES).flat(), "email_verified", "kubernetes.io")),
  claimValue,
  { maxKeys: 12 },
);

/** A valid claim set for each profile, to which the random claims are added. */
const base: Record<(typeof PROFILE_NAMES)[number], (extra: Record<string, unknown>) => Record<string, unknown>> = {
  "github-actions": (extra) => githubActionsClaims({}, { ...extra, environment: "prod", head_ref: "x", base_ref: "main", repository_id: "1", repository_owner_id: "2", repository: "octo-org/octo-repo" }),
  "gitlab-ci": (extra) => gitlabCiClaims({ ...extra, project_id: "4", namespace_id: "5", project_path: "g/p", environment: "prod" }),
  kubernetes: (extra) => ({ ...extra, ...kubernetesClaims() }),
  spiffe: (extra) => spiffeClaims("spiffe://example.org/w", { ...extra, sub: "spiffe://example.org/w", aud: ["x"] }),
  oidc: (extra) => ({ ...extra, sub: "someone", email: "a@example.com", email_verified: true }),
};

describe("profile attribute lists (what policies are type-checked against)", () => {
  it.each(PROFILE_NAMES)("%s: an accepted token never has an attribute outside the declared list", (name) => {
    const declared = new Set(PROFILE_ATTRIBUTES[name]);
    let accepted = 0;
    fc.assert(
      fc.property(extraClaims, (extra) => {
        const result = PROFILES[name](base[name](extra), {});
        if (!result.ok) return;
        accepted++;
        for (const attribute of Object.keys(result.attributes)) expect(declared, `${name} produced ${attribute}`).toContain(attribute);
      }),
      { numRuns: 300 },
    );
    // The base claim sets are valid, so most runs are accepted: the property is not vacuous.
    expect(accepted).toBeGreaterThan(100);
  });

  it.each(PROFILE_NAMES)("%s: every declared attribute is produced by some token (no dead names in the list)", (name) => {
    const everything = Object.fromEntries(PROFILE_ATTRIBUTES[name].map((attribute) => [attribute, "1"]));
    const result = PROFILES[name](base[name](everything), {});
    expect(result.ok).toBe(true);
    const produced = new Set(result.ok ? Object.keys(result.attributes) : []);
    // sub_format and sub_context come from `sub`; the custom template gives sub_format only.
    const missing = PROFILE_ATTRIBUTES[name].filter((attribute) => !produced.has(attribute));
    expect(missing).toEqual([]);
  });
});
