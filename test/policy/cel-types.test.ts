/**
 * The type checker (cel-js) must accept everything the evaluator (@bufbuild/cel, standard library
 * and `strings` extension) offers, or a valid policy would fail to load. Every function and
 * operator overload the evaluator has is written as an expression and checked here.
 */
import { celEnv } from "@bufbuild/cel";
import type { CelType } from "@bufbuild/cel";
import { strings } from "@bufbuild/cel/ext";
import { describe, expect, it } from "vitest";
import { checkerEnvironment } from "../../src/policy/cel-types.js";

/** A literal of each type the evaluator's signatures use, with `key` used for map keys. */
function sample(type: CelType, key?: CelType): string {
  if (type.kind === "list") return `[${sample(type.element)}]`;
  if (type.kind === "map") return `{${sample(key ?? type.key)}: "v"}`;
  const name = type.kind === "scalar" ? type.name : type.kind === "object" ? (type.desc?.typeName ?? "object") : "unknown";
  const literals: Record<string, string> = {
    int: "1",
    uint: "1u",
    double: "1.5",
    string: '"a"',
    bool: "true",
    bytes: 'b"a"',
    dyn: 'dyn("a")',
    "google.protobuf.Timestamp": 'timestamp("2026-11-01T12:00:00Z")',
    "google.protobuf.Duration": 'duration("1s")',
  };
  const literal = literals[name];
  if (literal === undefined) throw new Error(`no sample for ${name}`);
  return literal;
}

const INFIX: Readonly<Record<string, string>> = {
  "_+_": "+", "_-_": "-", "_*_": "*", "_/_": "/", "_%_": "%", "_==_": "==", "_!=_": "!=",
  "_<_": "<", "_<=_": "<=", "_>_": ">", "_>=_": ">=", "@in": "in",
};

/** One expression calling exactly this overload. */
function callOf(name: string, target: CelType | undefined, args: readonly CelType[]): string {
  const operator = INFIX[name];
  const [left, right] = args;
  if (operator !== undefined && left !== undefined && right !== undefined) {
    // `x in map` needs a map whose keys have x's type.
    return name === "@in" && right.kind === "map" ? `${sample(left)} in ${sample(right, left)}` : `${sample(left)} ${operator} ${sample(right)}`;
  }
  if (name === "-_" || name === "!_") return `${name[0] ?? ""}${sample(args[0] as CelType)}`;
  const list = args.map((arg) => sample(arg)).join(", ");
  return target === undefined ? `${name}(${list})` : `${sample(target)}.${name}(${list})`;
}

const evaluator = celEnv({ funcs: strings });
const overloads = [...evaluator.funcs].map((func) => ({ id: func.id, expression: callOf(func.name, func.target, func.arguments) }));

describe("the checker accepts every function and operator of the evaluator", () => {
  it("lists them all (std and strings extension)", () => {
    expect(overloads.length).toBeGreaterThan(150);
    for (const name of ["strings.quote(string)", "string.charAt(int)", "string.format(list)", "string.replace(string,string,int)", "string.matches(string)", "list.join(string)"]) {
      expect(overloads.map((overload) => overload.id)).toContain(name);
    }
  });

  it.each(overloads)("$id: $expression", ({ expression }) => {
    const checked = checkerEnvironment("github-actions").check(expression);
    expect(checked.error?.message ?? "", expression).toBe("");
    expect(checked.valid).toBe(true);
  });
});

describe("checker-only declarations", () => {
  it("are never evaluated: evaluation is @bufbuild/cel's", () => {
    expect(() => checkerEnvironment(undefined).evaluate('"abc".charAt(1)')).toThrow(/never|evaluated/);
  });

  it("a policy of an issuer whose profile is not known gets any string attribute, still typed as strings", () => {
    const env = checkerEnvironment(undefined);
    expect(env.check('identity.attributes.anything == "x"').valid).toBe(true);
    expect(env.check("identity.attributes.anything == 1").valid).toBe(false);
  });
});
