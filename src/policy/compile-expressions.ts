import type { ProfileName } from "../identity/types.js";
import { parseSpiffeId } from "../identity/spiffe-id.js";
import { compileCel } from "./cel.js";
import type { CelProgram } from "./cel.js";
import { typeCheckCel } from "./cel-check.js";
import type { ExpectedResult, TypeCheck } from "./cel-check.js";
import type { PolicyFile } from "./policy-schema.js";

/** A compile problem (or warning), with the field path inside the policy file. */
export interface CompileIssue {
  readonly path: string;
  readonly message: string;
  /** Where in the file's expression at `keys` the problem is (offset into the CEL text), when known. */
  readonly at?: { readonly keys: readonly string[]; readonly offset: number };
}

/** The expressions of one policy, compiled once at load. */
export interface Programs {
  readonly condition: CelProgram;
  readonly workloadIdExpr: CelProgram | undefined;
  readonly spiffeIdExpr: CelProgram | undefined;
  readonly claims: readonly (readonly [string, CelProgram])[];
  readonly actorCondition: CelProgram | undefined;
}

export interface ExpressionOptions {
  readonly trustDomain: string;
  /** The profile of the policy's issuer: `identity.attributes` is typed by it (undefined: any string attribute). */
  readonly profile: ProfileName | undefined;
}

/** Why `text` is not a SPIFFE ID of a workload in `trustDomain`, or undefined when it is one. */
export function spiffeIdProblem(text: string, trustDomain: string): string | undefined {
  const id = parseSpiffeId(text);
  if (id === undefined) return "is not a valid SPIFFE ID (SPIFFE-ID §2)";
  if (id.trustDomain !== trustDomain) return `is not in the trust domain ${trustDomain}`;
  // X509-SVID §2: the trust domain's own ID (no path) names the CA, never a workload.
  if (id.path === "") return "names the trust domain itself; a workload's SPIFFE ID needs a path";
  return undefined;
}

/**
 * Every expression of the file type-checked (cel-check.ts) and compiled (cel.ts), or every
 * problem found in them and in a literal SPIFFE ID; plus warnings that do not stop the load.
 */
export function compileExpressions(
  file: PolicyFile,
  options: ExpressionOptions,
): { readonly programs?: Programs; readonly issues: CompileIssue[]; readonly warnings: CompileIssue[] } {
  const issues: CompileIssue[] = [];
  const warnings: CompileIssue[] = [];
  const compile = (keys: readonly string[], source: string | undefined, expected: ExpectedResult, also?: (typed: TypeCheck & { ok: true }) => void): CelProgram | undefined => {
    if (source === undefined) return undefined;
    const path = keys.join(".");
    const typed = typeCheckCel(source, options.profile, expected);
    if (!typed.ok) {
      issues.push({ path, message: typed.message, at: { keys, offset: typed.offset ?? 0 } });
      return undefined;
    }
    const result = compileCel(source);
    if (!result.ok) {
      issues.push({ path, message: result.message, at: { keys, offset: 0 } });
      return undefined;
    }
    also?.(typed);
    return result.program;
  };
  const { grant } = file;
  const condition = compile(["condition"], file.condition, "bool", (typed) => {
    // `claims` is the raw token, not checked against any profile: a condition on it alone is one typo from denying everything.
    const claimsAt = typed.reads.get("claims");
    if (claimsAt !== undefined && !typed.reads.has("identity")) {
      const message = "reads `claims` and never `identity`: the raw token is not type-checked, so a misspelt claim only denies at run time; prefer identity.attributes";
      warnings.push({ path: "condition", message, at: { keys: ["condition"], offset: claimsAt } });
    }
  });
  const workloadIdExpr = compile(["grant", "workload_id_expr"], grant.workload_id_expr, "string");
  const spiffeKeys = ["grant", "spiffe_id_expr"];
  const spiffeIdExpr = compile(spiffeKeys, grant.spiffe_id_expr, "string", (typed) => {
    const problem = typed.leadingLiteral === undefined ? undefined : spiffePrefixProblem(typed.leadingLiteral.value, options.trustDomain);
    if (problem !== undefined && typed.leadingLiteral !== undefined) issues.push({ path: spiffeKeys.join("."), message: problem, at: { keys: spiffeKeys, offset: typed.leadingLiteral.offset } });
  });
  const problem = grant.spiffe_id === undefined ? undefined : spiffeIdProblem(grant.spiffe_id, options.trustDomain);
  if (problem !== undefined) issues.push({ path: "grant.spiffe_id", message: problem });
  const claims = Object.entries(grant.claims).map(([name, source]) => [name, compile(["grant", "claims", name], source, "claim")] as const);
  const actorCondition = compile(["grant", "delegation", "actor_condition"], grant.delegation?.actor_condition, "bool");
  if (issues.length > 0 || condition === undefined) return { issues, warnings };
  const compiledClaims = claims.filter((entry): entry is readonly [string, CelProgram] => entry[1] !== undefined);
  return { issues, warnings, programs: { condition, workloadIdExpr, spiffeIdExpr, claims: compiledClaims, actorCondition } };
}

/**
 * The literal a spiffe_id_expr starts with must put the ID in the broker's trust domain: a
 * mismatch would make every evaluation fail. A literal shorter than the prefix that could still
 * grow into it (`"spiffe://" + claims.td`) is left to the run-time check.
 */
function spiffePrefixProblem(literal: string, trustDomain: string): string | undefined {
  const prefix = `spiffe://${trustDomain}/`;
  if (literal.startsWith(prefix) || prefix.startsWith(literal)) return undefined;
  return `starts with ${JSON.stringify(literal)}, which is not in the trust domain ${trustDomain} (BROKER_TRUST_DOMAIN): a SPIFFE ID it builds must start with "${prefix}"`;
}
