import { celEnv, celError, isCelError, isCelList, isCelUint, parse, plan } from "@bufbuild/cel";
import type { CelError, CelInput, CelResult, CelValue } from "@bufbuild/cel";
import { strings } from "@bufbuild/cel/ext";
import type { ClaimValue } from "./types.js";

/**
 * The CEL environment every policy expression is planned against: the standard library plus
 * the `strings` extension. Built once; it holds no per-request state. `matches()` uses the
 * library's RE2 port, so a hostile pattern or claim cannot make a regex run in exponential time.
 */
const POLICY_CEL_ENV = celEnv({ funcs: strings });

/** A parsed expression tree node (the library's protobuf `Expr`). */
type Expr = ReturnType<typeof parse>["expr"];

/** The only free variables a policy expression may read. */
export const CEL_VARIABLES = ["identity", "claims", "request", "actor"] as const;

/** The bindings an expression is evaluated with. */
export type CelBindings = Readonly<Record<(typeof CEL_VARIABLES)[number], CelInput>>;

/** A planned expression: call it as often as needed; it returns a value or a CelError, never throws. */
export type CelProgram = (bindings: CelBindings) => CelResult;

export type CelCompilation = { readonly ok: true; readonly program: CelProgram } | { readonly ok: false; readonly message: string };

/** Longest expression accepted: policies are reviewed by people, so anything longer is a mistake. */
export const MAX_EXPRESSION_LENGTH = 4096;

/** Type names CEL lets an expression mention as plain identifiers (e.g. `type(x) == string`). */
const TYPE_IDENTIFIERS = new Set(["bool", "bytes", "double", "int", "uint", "string", "list", "map", "null_type", "type", "dyn"]);

/** Calls the planner implements itself rather than through the function resolver. */
const PLANNER_OPERATORS = new Set(["_[_]", "_[?_]", "_?._", "_?_:_", "_&&_", "_||_", "@not_strictly_false", "__not_strictly_false__"]);

/**
 * Parses and plans a CEL expression once. The library reports unknown variables and functions
 * only at evaluation time, so a typo would silently deny every request; we walk the tree here
 * instead and refuse such an expression at load, where the author sees it.
 */
export function compileCel(source: string): CelCompilation {
  if (source.length > MAX_EXPRESSION_LENGTH) {
    return { ok: false, message: `expression longer than ${MAX_EXPRESSION_LENGTH} characters` };
  }
  let root: Expr;
  try {
    root = parse(source).expr;
  } catch (error) {
    return { ok: false, message: `CEL syntax error: ${messageOf(error)}` };
  }
  const problems = unknownNames(root);
  if (problems.length > 0) return { ok: false, message: problems.join("; ") };
  try {
    const planned = plan(POLICY_CEL_ENV, root);
    const program: CelProgram = (bindings) => {
      try {
        return planned(bindings);
      } catch (error) {
        // The evaluator promises values, not exceptions; this guard keeps evaluate() total anyway.
        return celError(error);
      }
    };
    return { ok: true, program };
  } catch (error) {
    return { ok: false, message: `CEL planning error: ${messageOf(error)}` };
  }
}

/** Variables outside identity/claims/request/actor (and comprehension variables), and unknown functions. */
function unknownNames(root: Expr): string[] {
  const problems = new Set<string>();
  const visit = (expr: Expr | undefined, bound: ReadonlySet<string>): void => {
    if (expr === undefined) return;
    const kind = expr.exprKind;
    switch (kind.case) {
      case "identExpr": {
        const name = kind.value.name;
        const known = (CEL_VARIABLES as readonly string[]).includes(name) || bound.has(name) || TYPE_IDENTIFIERS.has(name);
        if (!known) problems.add(`unknown variable '${name}' (use identity, claims, request or actor)`);
        return;
      }
      case "selectExpr":
        visit(kind.value.operand, bound);
        return;
      case "callExpr": {
        const call = kind.value;
        if (!isKnownFunction(call.function, call.target)) problems.add(`unknown function '${call.function}'`);
        visit(call.target, bound);
        for (const arg of call.args) visit(arg, bound);
        return;
      }
      case "listExpr":
        for (const element of kind.value.elements) visit(element, bound);
        return;
      case "structExpr":
        for (const entry of kind.value.entries) {
          if (entry.keyKind.case === "mapKey") visit(entry.keyKind.value, bound);
          visit(entry.value, bound);
        }
        return;
      case "comprehensionExpr": {
        const c = kind.value;
        visit(c.iterRange, bound);
        visit(c.accuInit, bound);
        const inner = new Set([...bound, c.iterVar, c.iterVar2, c.accuVar].filter((name) => name !== ""));
        visit(c.loopCondition, inner);
        visit(c.loopStep, inner);
        visit(c.result, inner);
        return;
      }
      default:
        return;
    }
  };
  visit(root, new Set());
  return [...problems];
}

function isKnownFunction(name: string, target: Expr | undefined): boolean {
  if (PLANNER_OPERATORS.has(name) || POLICY_CEL_ENV.funcs.find(name) !== undefined) return true;
  // `ns.fn(x)` parses as a method call on the identifier `ns`; accept it when `ns.fn` exists.
  if (target?.exprKind.case === "identExpr") {
    return POLICY_CEL_ENV.funcs.find(`${target.exprKind.value.name}.${name}`) !== undefined;
  }
  return false;
}

/** Deepest nesting copied from claims into CEL; verified tokens are small, so deeper is hostile. */
const MAX_DEPTH = 32;

/**
 * Copies a JSON value (verified claims) into CEL input. Objects become `Map`s rather than plain
 * objects so that a claim named `$typeName` cannot make the evaluator treat it as a protobuf
 * message; `undefined` members are dropped, as JSON would.
 *
 * Runs on every decision over every claim, so it allocates only what it returns: plain loops
 * rather than `filter().map()` (two arrays per list) and `Object.entries` (an array per member).
 */
export function toCelInput(value: unknown, depth = 0): CelInput {
  if (value === null || typeof value === "string" || typeof value === "boolean" || typeof value === "number") return value;
  if (depth >= MAX_DEPTH) return null;
  if (Array.isArray(value)) {
    const list: CelInput[] = [];
    for (const item of value as readonly unknown[]) if (item !== undefined) list.push(toCelInput(item, depth + 1));
    return list;
  }
  if (typeof value === "object") {
    // Own enumerable string keys, in Object.entries' order, without its array per member.
    const map = new Map<string, CelInput>();
    for (const key in value) {
      if (!Object.hasOwn(value, key)) continue;
      const member: unknown = (value as Record<string, unknown>)[key];
      if (member !== undefined) map.set(key, toCelInput(member, depth + 1));
    }
    return map;
  }
  // bigint, functions, symbols cannot come from JSON; CEL sees them as null.
  return null;
}

/** True when the result is an evaluation error (missing field, bad overload, ...). */
export function isEvaluationError(result: CelResult): result is CelError {
  return isCelError(result);
}

/**
 * Converts an expression result into a claim value: string, number, bool or a list of strings.
 * CEL integers (int, uint) become JS numbers when they fit exactly. Returns undefined otherwise.
 */
export function toClaimValue(result: CelValue): ClaimValue | undefined {
  if (typeof result === "string" || typeof result === "boolean") return result;
  if (typeof result === "number") return Number.isFinite(result) ? result : undefined;
  if (typeof result === "bigint") return Number.isSafeInteger(Number(result)) ? Number(result) : undefined;
  if (isCelUint(result)) return Number.isSafeInteger(Number(result.value)) ? Number(result.value) : undefined;
  if (isCelList(result)) {
    const items: string[] = [];
    for (const item of result) {
      if (typeof item !== "string") return undefined;
      items.push(item);
    }
    return items;
  }
  return undefined;
}

/** Describes a result for a denial detail without echoing large values. */
export function describeResult(result: CelResult): string {
  if (isEvaluationError(result)) return `error: ${result.message}`;
  if (typeof result === "string") return `string ${JSON.stringify(result.slice(0, 64))}`;
  if (typeof result === "number" || typeof result === "boolean" || typeof result === "bigint") return `${typeof result} ${String(result)}`;
  if (result === null) return "null";
  return isCelList(result) ? "list" : "non-scalar value";
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
