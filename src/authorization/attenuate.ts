import type { Narrow, Narrowing, RequestContext } from "../policy/types.js";

/** The bounds a request is narrowed within: a policy grant, or a broker token being re-exchanged. */
export interface Bounds {
  readonly audiences: readonly string[];
  readonly scopes: readonly string[];
  readonly maxLifetimeSeconds: number;
}

export type Attenuation = Narrowing;

/**
 * Narrows a request to its bounds. Attenuation only narrows: every requested audience,
 * resource and scope must lie within the bounds (RFC 8693 §2.1 `audience`/`resource`,
 * RFC 6749 §3.3 `scope`), and the lifetime is the smallest of asked, bound and global cap.
 *
 * - No audience/resource asked: the single bound audience, or `invalid_target` when the bounds
 *   hold several (a caller must say which, so no token is broader than it needs to be).
 * - No scope asked: every bound scope (RFC 6749 §3.3 "pre-defined default value").
 */
export function attenuate(bounds: Bounds, request: RequestContext, globalMaxLifetimeSeconds: number): Attenuation {
  const asked = dedupe([...request.audiences, ...request.resources]);
  const outside = asked.filter((target) => !bounds.audiences.includes(target));
  if (outside.length > 0) {
    return { ok: false, code: "invalid_target", detail: `not granted: ${outside.join(", ")}` };
  }
  let audiences: readonly string[] = asked;
  if (asked.length === 0) {
    if (bounds.audiences.length !== 1) {
      return { ok: false, code: "invalid_target", detail: `no audience requested and ${bounds.audiences.length} are granted` };
    }
    audiences = bounds.audiences;
  }

  const askedScopes = dedupe(request.scopes);
  const ungranted = askedScopes.filter((scope) => !bounds.scopes.includes(scope));
  if (ungranted.length > 0) {
    return { ok: false, code: "invalid_scope", detail: `not granted: ${ungranted.join(" ")}` };
  }
  const scopes = askedScopes.length > 0 ? askedScopes : bounds.scopes;

  const lifetimeSeconds = Math.min(
    request.requestedLifetimeSeconds ?? Number.POSITIVE_INFINITY,
    bounds.maxLifetimeSeconds,
    globalMaxLifetimeSeconds,
  );
  return { ok: true, audiences, scopes, lifetimeSeconds };
}

/**
 * Attenuation within a global lifetime cap, as policy evaluation takes it: each grant whose
 * condition holds is tried with it, and the winner's narrowing is what gets issued.
 */
export function narrowWithin(globalMaxLifetimeSeconds: number): Narrow {
  return (bounds, request) => attenuate(bounds, request, globalMaxLifetimeSeconds);
}

function dedupe(values: readonly string[]): string[] {
  return [...new Set(values)];
}
