import { describe, expect, it } from "vitest";
import { formatReport } from "../../src/cli/explain-report.js";
import type { ExplainReport } from "../../src/cli/policy-explain.js";

const base: ExplainReport = {
  verified: false,
  warnings: ["a verification would refuse it: the token expired at 2026-11-01T12:00:00.000Z"],
  identity: { issuer: "ci", iss: "https://ci.example.com", profile: "oidc", subject: "job", attributes: {} },
  request: { audiences: [], resources: [], scopes: [], tokenType: "access_token", lifetimeSeconds: undefined, clientAddress: "127.0.0.1", time: "2026-11-01T12:00:00.000Z" },
  policies: [
    { id: "other", issuer: "k8s", applied: false, outcome: "not_applicable" },
    {
      id: "events",
      issuer: "ci",
      applied: true,
      outcome: "condition_false",
      failed: {
        expression: 'claims.event == "push" || claims.tag',
        result: "error",
        message: "no such key: tag",
        disjuncts: [
          { expression: 'claims.event == "push"', result: "false" },
          { expression: "claims.tag", result: "error", message: "no such key: tag" },
        ],
      },
    },
    { id: "types", issuer: "ci", applied: true, outcome: "token_type_not_granted", detail: "token type jwt not granted" },
  ],
  decision: { allow: false, reason: "token_type_not_granted", error: "invalid_request", description: "the requested_token_type is not granted to this identity" },
};

describe("the text report of broker policy explain", () => {
  it("starts with the verification line, then warnings; a failing || shows each disjunct's result under it", () => {
    const lines = formatReport(base).split("\n");
    expect(lines[0]).toMatch(/^NOT VERIFIED: /);
    expect(lines[1]).toBe("warning: a verification would refuse it: the token expired at 2026-11-01T12:00:00.000Z");
    expect(lines).toContain("  attributes   (none)");
    expect(lines).toContain("  other   not applicable (issuer k8s)");
    expect(lines).toContain('  events  condition_false: claims.event == "push" || claims.tag  gave an error: no such key: tag');
    expect(lines).toContain('            false    claims.event == "push"');
    expect(lines).toContain("            error    claims.tag (no such key: tag)");
    expect(lines).toContain("  types   token_type_not_granted: token type jwt not granted");
    expect(lines).toContain('decision: DENY invalid_request (token_type_not_granted): "the requested_token_type is not granted to this identity"');
  });
});
