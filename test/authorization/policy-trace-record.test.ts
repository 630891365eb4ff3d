import { describe, expect, it } from "vitest";
import { MAX_TRACE_EXPRESSION_CHARS, MAX_TRACE_POLICIES, policyTraceFacts } from "../../src/authorization/policy-trace-record.js";
import type { PolicyTraceEntry } from "../../src/policy/types.js";

describe("a denial's policy trace as the audit record carries it", () => {
  it("keeps id, outcome, the failing text and its result; drops evaluation messages and disjuncts", () => {
    const trace: PolicyTraceEntry[] = [
      {
        policy: "a",
        outcome: "condition_false",
        failed: {
          expression: "claims.x || claims.y",
          result: "error",
          message: "no such key: s3cr3t",
          disjuncts: [
            { expression: "claims.x", result: "false" },
            { expression: "claims.y", result: "error", message: "no such key: s3cr3t" },
          ],
        },
      },
      { policy: "b", outcome: "target_not_granted" },
    ];
    const facts = policyTraceFacts(trace);
    expect(facts).toEqual({
      policyTrace: [
        { policy: "a", outcome: "condition_false", failed: "claims.x || claims.y", result: "error" },
        { policy: "b", outcome: "target_not_granted" },
      ],
    });
    expect(JSON.stringify(facts)).not.toContain("s3cr3t");
  });

  it("is bounded: at most MAX_TRACE_POLICIES policies (the rest counted) and MAX_TRACE_EXPRESSION_CHARS characters of text", () => {
    const long = `claims.a == "${"x".repeat(4000)}"`;
    const trace: PolicyTraceEntry[] = Array.from({ length: MAX_TRACE_POLICIES + 7 }, (_, index) => ({
      policy: `p${index}`,
      outcome: "condition_false",
      failed: { expression: long, result: "false" },
    }));
    const facts = policyTraceFacts(trace);
    expect(facts.policyTrace).toHaveLength(MAX_TRACE_POLICIES);
    expect(facts.policyTraceOmitted).toBe(7);
    const failed = facts.policyTrace?.[0]?.failed ?? "";
    expect(failed).toHaveLength(MAX_TRACE_EXPRESSION_CHARS);
    expect(failed.endsWith("…")).toBe(true);
    expect(long.startsWith(failed.slice(0, -1))).toBe(true);
    expect(JSON.stringify(facts).length).toBeLessThan(MAX_TRACE_POLICIES * (MAX_TRACE_EXPRESSION_CHARS + 100));
  });

  it("an empty trace (no policy for the issuer) is an empty list", () => {
    expect(policyTraceFacts([])).toEqual({ policyTrace: [] });
  });
});
