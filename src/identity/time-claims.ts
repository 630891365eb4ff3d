import type { JWTPayload } from "jose";
import { epochSeconds, type Clock } from "../lib/clock.js";
import type { IssuerConfig } from "./issuer-config.js";

/** A time-claim problem: a caller-safe description and a detail for the log. */
export interface ClaimProblem {
  readonly description: string;
  readonly detail: string;
}

/**
 * The time checks jose leaves to the application, run after jwtVerify succeeded:
 * finite NumericDates (jose accepts `exp: 1e400`, which JSON parses to Infinity), no `iat` in
 * the future even when maxTokenAge is off, and a cap on the lifetime the issuer granted.
 */
export function checkTimeClaims(claims: JWTPayload, config: IssuerConfig, clock: Clock): ClaimProblem | undefined {
  // RFC 7519 §2: a NumericDate is a number of seconds; Infinity and NaN are not.
  for (const name of ["exp", "nbf", "iat"] as const) {
    const value = claims[name];
    if (value !== undefined && (typeof value !== "number" || !Number.isFinite(value))) {
      return { description: `has an invalid "${name}" claim`, detail: `${name} is not a finite number` };
    }
  }
  const now = epochSeconds(clock);
  const { exp, iat } = claims;
  if (typeof exp !== "number") return { description: 'is missing the "exp" claim', detail: "no exp" };
  if (iat !== undefined && iat > now + config.clockSkewSeconds) {
    return { description: "was issued in the future", detail: `iat ${iat} is after now ${now} + skew ${config.clockSkewSeconds}s` };
  }
  // Long-lived identity tokens are replayable for longer; refuse what the issuer should not mint.
  const lifetime = iat !== undefined ? exp - iat : exp - now;
  if (lifetime > config.maxLifetimeSeconds) {
    return {
      description: "lifetime is too long",
      detail: `lifetime ${lifetime}s (${iat !== undefined ? "exp - iat" : "exp - now"}) exceeds ${config.maxLifetimeSeconds}s`,
    };
  }
  return undefined;
}
