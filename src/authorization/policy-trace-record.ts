import type { PolicyTraceRecord } from "../audit/audit-event.js";
import type { DecisionFacts } from "../audit/decision-facts.js";
import type { PolicyTraceEntry } from "../policy/types.js";

/** Most policies a denial's record lists in `policyTrace`: the rest are counted in `policyTraceOmitted`. */
export const MAX_TRACE_POLICIES = 20;
/** Longest failing-expression text a record carries, in characters (policy expressions may be 4096). */
export const MAX_TRACE_EXPRESSION_CHARS = 200;

/**
 * A denial's trace as its audit record carries it, bounded in size: per policy its id, its
 * outcome and, for a false condition, the failing part's source text and whether it was false or
 * an error. Evaluation error messages and disjuncts are left out: a message may quote a claim
 * value, and the audit log never holds token contents.
 */
export function policyTraceFacts(trace: readonly PolicyTraceEntry[]): DecisionFacts {
  const policyTrace = trace.slice(0, MAX_TRACE_POLICIES).map(recordOf);
  const omitted = trace.length - policyTrace.length;
  return omitted > 0 ? { policyTrace, policyTraceOmitted: omitted } : { policyTrace };
}

function recordOf(entry: PolicyTraceEntry): PolicyTraceRecord {
  const { failed } = entry;
  if (failed === undefined) return { policy: entry.policy, outcome: entry.outcome };
  return { policy: entry.policy, outcome: entry.outcome, failed: bounded(failed.expression), result: failed.result };
}

function bounded(text: string): string {
  return text.length <= MAX_TRACE_EXPRESSION_CHARS ? text : `${text.slice(0, MAX_TRACE_EXPRESSION_CHARS - 1)}…`;
}
