import type { ASTNode, ParseResult } from "@marcbachmann/cel-js";
import type { ProfileName } from "../identity/types.js";
import { CEL_VARIABLES, MAX_EXPRESSION_LENGTH } from "./cel.js";
import { checkerEnvironment } from "./cel-types.js";

/** What an expression must give: a condition a bool, an id a string, an extra claim a claim value. */
export type ExpectedResult = "bool" | "string" | "claim";

/** A string literal in an expression and where it starts (offset into the expression). */
export interface LiteralAt {
  readonly value: string;
  readonly offset: number;
}

export type TypeCheck =
  | {
      readonly ok: true;
      /** The policy variables (identity, claims, request, actor) the expression reads, each with where it is first read. */
      readonly reads: ReadonlyMap<string, number>;
      /** The string literals a `+` chain starts with, joined (`"spiffe://td/" + x`), when it starts with one. */
      readonly leadingLiteral: LiteralAt | undefined;
    }
  /** `offset` is where in the expression the problem is (UTF-16 units), when the checker says. */
  | { readonly ok: false; readonly message: string; readonly offset: number | undefined };

/** Result types each kind accepts; `dyn` (a value read from `claims`) is decided at run time. */
const ACCEPTED: Readonly<Record<ExpectedResult, ReadonlySet<string>>> = {
  bool: new Set(["bool", "dyn"]),
  string: new Set(["string", "dyn"]),
  // A list built from `claims` (`claims.groups.filter(…)`) is a list of dyn ("list"): its items are checked at run time.
  claim: new Set(["string", "int", "uint", "double", "bool", "list<string>", "list<dyn>", "list", "dyn"]),
};

const DESCRIBED: Readonly<Record<ExpectedResult, string>> = {
  bool: "bool",
  string: "string",
  claim: "string, int, uint, double, bool or list<string>",
};

/** Macros whose first argument names a variable bound inside the call. */
const BINDING_MACROS = new Set(["all", "exists", "exists_one", "map", "filter"]);

/**
 * Type-checks one policy expression against the declared variables of a policy whose issuer has
 * `profile`: a field that does not exist, an operator on the wrong types, an unknown function or
 * a result of the wrong type is refused here, at load, instead of denying every request later.
 */
export function typeCheckCel(source: string, profile: ProfileName | undefined, expected: ExpectedResult): TypeCheck {
  if (source.length > MAX_EXPRESSION_LENGTH) return { ok: false, message: `expression longer than ${MAX_EXPRESSION_LENGTH} characters`, offset: undefined };
  const env = checkerEnvironment(profile);
  let parsed: ParseResult;
  try {
    parsed = env.parse(source);
  } catch (error) {
    return failure(error, 0);
  }
  const checked = parsed.check();
  if (!checked.valid) return failure(checked.error, 0);
  // cel-js checks only the variable of `has(x.a.b)`, not its fields: check each such path as an expression.
  for (const path of hasArguments(parsed.ast)) {
    const field = env.check(source.slice(path.range.start, path.range.end));
    if (!field.valid) return failure(field.error, path.range.start);
  }
  const type = checked.type ?? "dyn";
  if (!ACCEPTED[expected].has(type)) {
    return { ok: false, message: `gives ${type}, expected ${DESCRIBED[expected]}`, offset: undefined };
  }
  return { ok: true, reads: rootReads(parsed.ast), leadingLiteral: leadingLiteral(parsed.ast) };
}

function failure(error: unknown, shift: number): TypeCheck {
  const parsing = typeof error === "object" && error !== null && "name" in error && error.name === "ParseError";
  const summary = `${parsing ? "CEL syntax error: " : ""}${summaryOf(error)}`;
  const hint = /^Unknown variable/.test(summary) ? ` (use ${CEL_VARIABLES.join(", ")})` : "";
  const range = typeof error === "object" && error !== null && "range" in error ? (error.range as { start?: unknown } | undefined) : undefined;
  const offset = typeof range?.start === "number" ? shift + range.start : undefined;
  return { ok: false, message: `${summary}${hint}`, offset };
}

/** The library's one-line summary (its `message` adds a source excerpt of its own). */
function summaryOf(error: unknown): string {
  if (typeof error === "object" && error !== null && "summary" in error && typeof error.summary === "string") return error.summary;
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0] ?? message;
}

function isNode(value: unknown): value is ASTNode {
  return typeof value === "object" && value !== null && "op" in value && "range" in value;
}

/** The direct sub-expressions of a node, whatever its operator. */
function children(node: ASTNode): ASTNode[] {
  const found: ASTNode[] = [];
  const collect = (value: unknown): void => {
    if (isNode(value)) found.push(value);
    else if (Array.isArray(value)) for (const item of value) collect(item);
  };
  if (node.op !== "value" && node.op !== "id") collect(node.args);
  return found;
}

/** The variable a comprehension macro binds (`s` in `xs.all(s, …)`), if `node` is one. */
function boundVariable(node: ASTNode): string | undefined {
  if (node.op !== "rcall" || !BINDING_MACROS.has(node.args[0])) return undefined;
  const first = node.args[2][0];
  return first?.op === "id" ? first.args : undefined;
}

/** Walks the tree with the comprehension variables in scope at each node. */
function walk(root: ASTNode, visit: (node: ASTNode, bound: ReadonlySet<string>) => void): void {
  const step = (node: ASTNode, bound: ReadonlySet<string>): void => {
    visit(node, bound);
    const variable = boundVariable(node);
    const inner = variable === undefined ? bound : new Set([...bound, variable]);
    for (const child of children(node)) step(child, inner);
  };
  step(root, new Set());
}

/** The root variable of a field path (`identity` in `identity.attributes.x`), if it is one. */
function pathRoot(node: ASTNode): string | undefined {
  let current = node;
  while (current.op === "." || current.op === ".?") current = current.args[0];
  return current.op === "id" ? current.args : undefined;
}

/** `has()` arguments that are field paths on a policy variable (not on a comprehension variable). */
function hasArguments(root: ASTNode): ASTNode[] {
  const paths: ASTNode[] = [];
  walk(root, (node, bound) => {
    if (node.op !== "call" || node.args[0] !== "has") return;
    const argument = node.args[1][0];
    const variable = argument === undefined ? undefined : pathRoot(argument);
    if (argument !== undefined && variable !== undefined && !bound.has(variable)) paths.push(argument);
  });
  return paths;
}

function rootReads(root: ASTNode): ReadonlyMap<string, number> {
  const reads = new Map<string, number>();
  walk(root, (node, bound) => {
    if (node.op !== "id" || bound.has(node.args) || !(CEL_VARIABLES as readonly string[]).includes(node.args)) return;
    reads.set(node.args, Math.min(reads.get(node.args) ?? node.range.start, node.range.start));
  });
  return reads;
}

function leadingLiteral(root: ASTNode): LiteralAt | undefined {
  // `"a" + "b" + x` parses as ((“a” + “b”) + x): the leftmost leaves are the start of the string.
  const operands: ASTNode[] = [];
  let current = root;
  while (current.op === "+") {
    operands.unshift(current.args[1]);
    current = current.args[0];
  }
  operands.unshift(current);
  let value = "";
  for (const operand of operands) {
    if (operand.op !== "value" || typeof operand.args !== "string") break;
    value += operand.args;
  }
  const first = operands[0];
  return first === undefined || value === "" ? undefined : { value, offset: first.range.start };
}
