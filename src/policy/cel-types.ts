import { Environment } from "@marcbachmann/cel-js";
import { PROFILE_ATTRIBUTES } from "../identity/profiles/index.js";
import type { ProfileName } from "../identity/types.js";

/**
 * The typed CEL environments policy expressions are checked against at load, one per issuer
 * profile. They come from @marcbachmann/cel-js, used as a type checker only: evaluation stays
 * on @bufbuild/cel (cel.ts), whose planner has no usable checker. So every declaration here
 * mirrors what cel-bindings.ts passes at run time, and an expression must pass both libraries.
 */

/** Checker-only declarations never run: @bufbuild/cel evaluates. Throw loudly if one ever does. */
function neverEvaluated(): never {
  throw new Error("a CEL type-checker declaration was evaluated; policies evaluate on @bufbuild/cel");
}

/** `strings.quote(...)`: cel-js resolves `ns.fn()` as a method on a constant of a namespace type. */
class StringsNamespace {}

/**
 * Functions @bufbuild/cel has (standard library and the `strings` extension the broker enables)
 * that cel-js 8 lacks; test/policy/cel-types.test.ts checks every @bufbuild/cel function against
 * the checker, so a new one on either side shows up there. `matches(string, string)` (the global
 * form) is deliberately absent: @bufbuild/cel declares only the method and fails the global form
 * at run time, so accepting it would let a condition that always errors through.
 */
const BUFBUILD_ONLY_FUNCTIONS = [
  "string.charAt(int): string",
  "string.replace(string, string): string",
  "string.replace(string, string, int): string",
  "string.format(list): string",
  "StringsNamespace.quote(string): string",
  "int(uint): int",
  "int(google.protobuf.Timestamp): int",
  "int(google.protobuf.Duration): int",
  "string(google.protobuf.Timestamp): string",
  "string(google.protobuf.Duration): string",
  "timestamp(google.protobuf.Timestamp): google.protobuf.Timestamp",
  "duration(google.protobuf.Duration): google.protobuf.Duration",
  "duration(int): google.protobuf.Duration",
] as const;

/** Operators @bufbuild/cel has and cel-js 8 lacks. */
const BUFBUILD_ONLY_OPERATORS = ["bytes < bytes", "bytes <= bytes", "bytes > bytes", "bytes >= bytes"] as const;

const STRING_FIELDS = { issuer: "string", iss: "string", profile: "string", subject: "string" } as const;

/** `request`: what cel-bindings.ts builds (requested_lifetime and time are CEL ints). */
const REQUEST_FIELDS = {
  audiences: "list<string>",
  resources: "list<string>",
  scopes: "list<string>",
  requested_token_type: "string",
  requested_lifetime: "int",
  client_address: "string",
  time: "int",
} as const;

/** `github-actions` → `GithubActionsAttributes`: the type name error messages show for `identity.attributes`. */
function attributesTypeName(profile: ProfileName): string {
  return `${profile.replace(/(^|-)([a-z])/g, (_match, _dash: string, letter: string) => letter.toUpperCase())}Attributes`;
}

/** Builds the environment for policies whose issuer has `profile` (undefined: any string attribute). */
function policyEnvironment(profile: ProfileName | undefined): Environment {
  const env = new Environment({ homogeneousAggregateLiterals: true });
  let attributesType = "map<string, string>";
  if (profile !== undefined) {
    attributesType = attributesTypeName(profile);
    env.registerType(attributesType, { fields: Object.fromEntries(PROFILE_ATTRIBUTES[profile].map((name) => [name, "string"])) });
  }
  env
    .registerType("Identity", { fields: { ...STRING_FIELDS, attributes: attributesType } })
    // An actor may come from any issuer (or be a broker token), so its attributes are an open map.
    .registerType("ActorIdentity", { fields: { ...STRING_FIELDS, attributes: "map<string, string>" } })
    .registerType("Actor", { fields: { identity: "ActorIdentity", claims: "map<string, dyn>" } })
    .registerType("Request", { fields: REQUEST_FIELDS })
    .registerType("StringsNamespace", StringsNamespace)
    .registerConstant("strings", "StringsNamespace", new StringsNamespace())
    .registerVariable("identity", "Identity")
    // The raw verified token: its shape is the issuer's, not ours, so it stays dynamic.
    .registerVariable("claims", "map<string, dyn>")
    .registerVariable("request", "Request")
    .registerVariable("actor", "Actor")
    // `actor` is null without an actor_token: `actor == null` and `actor != null` must type-check.
    .registerOperator("Actor == null", neverEvaluated);
  for (const signature of BUFBUILD_ONLY_FUNCTIONS) env.registerFunction(signature, neverEvaluated);
  for (const signature of BUFBUILD_ONLY_OPERATORS) env.registerOperator(signature, neverEvaluated);
  return env;
}

/** Environments are immutable once built; building one costs about a millisecond, so each is built once. */
const environments = new Map<ProfileName | "any", Environment>();

/** The checker environment for a policy whose issuer has `profile` (undefined: not known, attributes untyped). */
export function checkerEnvironment(profile: ProfileName | undefined): Environment {
  const key = profile ?? "any";
  let env = environments.get(key);
  if (env === undefined) {
    env = policyEnvironment(profile);
    environments.set(key, env);
  }
  return env;
}
