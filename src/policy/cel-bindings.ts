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
    request: toCelInput({
      audiences: request.audiences,
      resources: request.resources,
      scopes: request.scopes,
      requested_token_type: request.requestedTokenType,
      // CEL has no "undefined"; 0 reads naturally as "not asked" in a condition.
      requested_lifetime: request.requestedLifetimeSeconds ?? 0,
      client_address: request.clientAddress,
      time: request.now,
    }),
    // null when there is no actor: `actor == null` reads as "no delegation"; `actor.x` is an error, never true.
    actor: actor === undefined ? null : actorBinding(actor),
  };
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
