import { toCelInput, type CelBindings } from "./cel.js";
import type { CelInput } from "@bufbuild/cel";
import type { PrincipalContext, RequestContext } from "./types.js";

/**
 * Builds the CEL variables `identity`, `claims`, `request` and `actor` for one decision. Each map is
 * filled directly, not copied from an object literal made for the purpose: this runs on every
 * decision, and what it allocates is garbage right after.
 */
export function celBindings(subject: PrincipalContext, request: RequestContext): CelBindings {
  const { actor } = request;
  return {
    identity: identityBinding(subject.identity),
    claims: toCelInput(subject.claims),
    request: requestBinding(request),
    // null when there is no actor: `actor == null` reads as "no delegation"; `actor.x` is an error, never true.
    actor: actor === undefined ? null : actorBinding(actor),
  };
}

/** The CEL `identity` variable (and an actor's, one level deeper): the workload identity's five members. */
function identityBinding(identity: PrincipalContext["identity"], depth = 0): Map<string, CelInput> {
  const map = new Map<string, CelInput>();
  map.set("issuer", identity.issuer);
  map.set("iss", identity.iss);
  map.set("profile", identity.profile);
  map.set("subject", identity.subject);
  map.set("attributes", toCelInput(identity.attributes, depth + 1));
  return map;
}

/**
 * The CEL `request` variable. Lists and strings go through toCelInput; `requested_lifetime` and
 * `time` are CEL ints (bigint), as the type checker declares them (cel-types.ts), so
 * `request.time + 3600` is int arithmetic at run time too, not a double.
 */
function requestBinding(request: RequestContext): CelBindings["request"] {
  const map = new Map<string, CelInput>();
  map.set("audiences", toCelInput(request.audiences, 1));
  map.set("resources", toCelInput(request.resources, 1));
  map.set("scopes", toCelInput(request.scopes, 1));
  map.set("requested_token_type", request.requestedTokenType);
  // Always known from the socket; were it missing, the member is left out, as toCelInput leaves out undefined.
  const clientAddress: string | undefined = request.clientAddress;
  if (clientAddress !== undefined) map.set("client_address", clientAddress);
  // CEL has no "undefined"; 0 reads naturally as "not asked" in a condition.
  map.set("requested_lifetime", BigInt(Math.trunc(request.requestedLifetimeSeconds ?? 0)));
  map.set("time", BigInt(Math.trunc(request.now)));
  return map;
}

/** The CEL `actor` variable for one actor. */
export function actorBinding(actor: PrincipalContext): CelBindings["actor"] {
  const map = new Map<string, CelInput>();
  map.set("identity", identityBinding(actor.identity, 1));
  map.set("claims", toCelInput(actor.claims, 1));
  return map;
}
