import { parse, unparse } from "@bufbuild/cel";
import type { CelResult } from "@bufbuild/cel";
import { compileCel, isEvaluationError } from "./cel.js";
import type { CelBindings, CelProgram } from "./cel.js";
import type { ConditionFailure, ConditionPartResult } from "./types.js";

/** A parsed expression tree node (the library's protobuf `Expr`). */
type Expr = ReturnType<typeof parse>["expr"];
type Parsed = ReturnType<typeof parse>;

/**
 * One part of a condition, compiled on its own so that a denial can say which part failed:
 * an `&&` chain (its conjuncts, flattened), an `||` chain (its disjuncts, flattened), or
 * anything else (a comparison, a call, a ternary, a negation), which is reported whole.
 */
type TracePart =
  | { readonly kind: "all"; readonly parts: readonly TracePart[]; readonly text: string; readonly program: CelProgram }
  | { readonly kind: "any"; readonly parts: readonly TracePart[]; readonly text: string; readonly program: CelProgram }
  | { readonly kind: "leaf"; readonly text: string; readonly program: CelProgram };

/** Finds the first part of a condition that is not true, for one set of bindings. */
export interface ConditionTrace {
  /**
   * The first conjunct (recursing into nested `&&`) that is not `true`, or undefined when the
   * whole condition holds. Meant for denials and `broker policy explain` only: it evaluates the
   * parts again, one by one, so the allow path never calls it.
   */
  firstFailure(bindings: CelBindings): ConditionFailure | undefined;
}

/**
 * Compiles the parts of a condition once (at load). The condition itself was compiled already;
 * when a part cannot be compiled on its own (it always can, being a sub-expression of a valid
 * expression, but the trace must never make a valid policy fail to load) the trace reports the
 * enclosing expression whole instead of its parts.
 */
export function compileConditionTrace(source: string, whole: CelProgram): ConditionTrace {
  let root: TracePart;
  try {
    const parsed = parse(source);
    root = partOf(parsed, parsed.expr, whole) ?? { kind: "leaf", text: source.trim(), program: whole };
  } catch {
    root = { kind: "leaf", text: source.trim(), program: whole };
  }
  return {
    firstFailure(bindings) {
      const result = root.program(bindings);
      return result === true ? undefined : failureOf(root, result, bindings);
    },
  };
}

/** The first part that is not true, given that `part` gave `result` (not true). */
function failureOf(part: TracePart, result: CelResult, bindings: CelBindings): ConditionFailure {
  if (part.kind === "all") {
    for (const conjunct of part.parts) {
      const value = conjunct.program(bindings);
      if (value !== true) return failureOf(conjunct, value, bindings);
    }
    // CEL's && is commutative over errors; every conjunct true but the whole not: say so whole.
  }
  const failure: ConditionFailure = { expression: part.text, ...notTrue(result) };
  if (part.kind !== "any") return failure;
  const disjuncts = part.parts.map((disjunct) => {
    const value = disjunct.program(bindings);
    return { expression: disjunct.text, ...(value === true ? { result: "true" as const } : notTrue(value)) };
  });
  return { ...failure, disjuncts };
}

/** How a value that is not `true` reads in a trace: false, an error (with its message), or not a bool. */
function notTrue(value: CelResult): { result: Exclude<ConditionPartResult, "true">; message?: string } {
  if (value === false) return { result: "false" };
  if (isEvaluationError(value)) return { result: "error", message: value.message };
  return { result: "not_bool" };
}

/**
 * The trace part of `expr`, with its own source text (unparse, macros as written) and program
 * (`program` when already compiled: the whole condition); undefined when it cannot be compiled.
 */
function partOf(parsed: Parsed, expr: Expr, program?: CelProgram): TracePart | undefined {
  const text = unparse({ ...parsed, expr });
  const compiled = program === undefined ? compileCel(text) : { ok: true as const, program };
  if (!compiled.ok) return undefined;
  const operator = logicalOperator(expr);
  if (operator === undefined) return { kind: "leaf", text, program: compiled.program };
  const parts: TracePart[] = [];
  for (const operand of flatten(expr, operator)) {
    const part = partOf(parsed, operand);
    if (part === undefined) return { kind: "leaf", text, program: compiled.program };
    parts.push(part);
  }
  return { kind: operator === "_&&_" ? "all" : "any", parts, text, program: compiled.program };
}

/** `_&&_` or `_||_` when `expr` is that call, else undefined. */
function logicalOperator(expr: Expr): "_&&_" | "_||_" | undefined {
  const kind = expr.exprKind;
  if (kind.case !== "callExpr" || kind.value.target !== undefined) return undefined;
  const name = kind.value.function;
  return name === "_&&_" || name === "_||_" ? name : undefined;
}

/**
 * The operands of a chain of one operator, left to right. The parser builds `a && b && c` as a
 * balanced tree, and `a && (b && c)` is the same chain, so nested calls of the same operator
 * are flattened: a parenthesised `&&` inside an `&&` becomes more conjuncts, in source order.
 */
function flatten(expr: Expr, operator: "_&&_" | "_||_"): Expr[] {
  const kind = expr.exprKind;
  if (kind.case !== "callExpr" || kind.value.function !== operator || kind.value.target !== undefined) return [expr];
  return kind.value.args.flatMap((arg) => flatten(arg, operator));
}
