import type { JWTPayload } from "jose";
import type { IssuerConfig } from "./issuer-config.js";
import { PROFILES } from "./profiles/index.js";
import type { ProfileResult } from "./profiles/profile.js";
import type { WorkloadIdentity } from "./types.js";

/** A token's claims as the workload identity policies see, or why its issuer's profile refuses them. */
export type NormalisedIdentity = { readonly ok: true; readonly identity: WorkloadIdentity } | { readonly ok: false; readonly reason: string };

/**
 * The workload identity of a token from `config`'s issuer: its profile's attributes, the trust
 * domain check of a spiffe issuer, and the issuer's id and `iss`. The one place claims become an
 * identity: the verifier calls it after every check passed, and `broker policy explain` on a
 * token it only decoded, so both see exactly what the broker's policies would see.
 */
export function normaliseIdentity(config: IssuerConfig, payload: Readonly<JWTPayload>, header: Readonly<Record<string, unknown>>): NormalisedIdentity {
  const profiled = trustDomainCheck(PROFILES[config.profile](payload, header), config);
  if (!profiled.ok) return profiled;
  return {
    ok: true,
    identity: { issuer: config.id, iss: config.issuer, profile: config.profile, subject: payload.sub as string, attributes: profiled.attributes },
  };
}

/**
 * A spiffe issuer's keys are one trust domain's bundle: a JWT-SVID they verify must name a SPIFFE
 * ID in that trust domain (SPIFFE Trust Domain and Bundle §4), or one domain's compromised
 * workload could sign as another's.
 */
function trustDomainCheck(profiled: ProfileResult, config: IssuerConfig): ProfileResult {
  if (!profiled.ok || config.trustDomain === undefined || profiled.attributes.trust_domain === config.trustDomain) return profiled;
  return { ok: false, reason: `SPIFFE ID is in trust domain ${JSON.stringify(profiled.attributes.trust_domain ?? "")}, not ${config.trustDomain}` };
}
