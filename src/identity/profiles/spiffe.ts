import { parseSpiffeId } from "../spiffe-id.js";
import { accept, reject, type Profile } from "./profile.js";

/** Every attribute this profile can produce (policies are type-checked against it). */
export const SPIFFE_ATTRIBUTES = ["spiffe_id", "trust_domain", "path"] as const;

/** SPIFFE JWT-SVIDs. */
export const spiffeProfile: Profile = (claims, header) => {
  // JWT-SVID §2.3: typ, when present, is "JWT" or "JOSE".
  if (header.typ !== undefined && header.typ !== "JWT" && header.typ !== "JOSE") {
    return reject('header "typ" must be JWT or JOSE');
  }
  // JWT-SVID §3.2: aud is required (the verifier already checked it names us).
  const aud = claims.aud;
  if (aud === undefined || (Array.isArray(aud) && aud.length === 0)) return reject('"aud" claim is required');
  const sub = typeof claims.sub === "string" ? claims.sub : "";
  const id = parseSpiffeId(sub);
  if (id === undefined) return reject('"sub" is not a valid SPIFFE ID');
  // A trust-domain-only ID names no workload; the broker grants nothing to it.
  if (id.path === "") return reject('"sub" SPIFFE ID has no path');
  return accept({ spiffe_id: sub, trust_domain: id.trustDomain, path: id.path });
};
