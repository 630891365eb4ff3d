// RFC 6749 §3.3, the scope grammar: one home for it, read by the token request, the policy
// schema, the settings that name a scope, and every check of a token's `scope` claim.

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ): printable ASCII except space, `"` and `\`. */
export const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** Longest scope token the broker takes from a request or a setting. */
const MAX_SCOPE_TOKEN_CHARS = 128;

/** One scope value a request or a setting may name: the §3.3 grammar, at most {@link MAX_SCOPE_TOKEN_CHARS}. */
export function isScopeToken(value: string): boolean {
  return value.length <= MAX_SCOPE_TOKEN_CHARS && SCOPE_TOKEN.test(value);
}

/** RFC 6749 §3.3: a `scope` value is scope tokens separated by single spaces; absent or empty is none. */
export function scopesOf(scope: unknown): string[] {
  return typeof scope === "string" && scope !== "" ? scope.split(" ") : [];
}
