import { toCelInput, type CelBindings } from "./cel.js";
import type { PrincipalContext, RequestContext } from "./types.js";

/** Builds the CEL variables `identity`, `claims`, `request` and `actor` for one decision. */
export function celBindings(subject: PrincipalContext, request: RequestContext): CelBindings {
  const { identity } = subject;
  const { actor } = request;
  return {
    identity: toCelInput({
      issuer: identity.issuer,
      iss: identity.iss,
      profile: identity.profile,
      subject: identity.subject,
      attributes: identity.attributes,
    }),
    claims: toCelInput(subject.claims),
    request: requestBinding(request),
    // null when there is no actor: `actor == null` reads as "no delegation"; `actor.x` is an error, never true.
    actor: actor === undefined ? null : actorBinding(actor),
  };
}

/**
 * The CEL `request` variable. Lists and strings go through toCelInput; `requested_lifetime` and
 * `time` are CEL ints (bigint), as the type checker declares them (cel-types.ts), so
 * `request.time + 3600` is int arithmetic at run time too, not a double.
 */
function requestBinding(request: RequestContext): CelBindings["request"] {
  const binding = toCelInput({
    audiences: request.audiences,
    resources: request.resources,
    scopes: request.scopes,
    requested_token_type: request.requestedTokenType,
    client_address: request.clientAddress,
  });
  if (!(binding instanceof Map)) return binding;
  // CEL has no "undefined"; 0 reads naturally as "not asked" in a condition.
  binding.set("requested_lifetime", BigInt(Math.trunc(request.requestedLifetimeSeconds ?? 0)));
  binding.set("time", BigInt(Math.trunc(request.now)));
  return binding;
}

/** The CEL `actor` variable for one actor. */
export function actorBinding(actor: PrincipalContext): CelBindings["actor"] {
  return toCelInput({
    identity: {
      issuer: actor.identity.issuer,
      iss: actor.identity.iss,
      profile: actor.identity.profile,
      subject: actor.identity.subject,
      attributes: actor.identity.attributes,
    },
    claims: actor.claims,
  });
}
