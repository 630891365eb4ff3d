import { errors, type JWTPayload } from "jose";

/** The claim checks of jose's `jwtVerify`, limited to the options the broker passes. */
export interface ClaimRules {
  /** `iss` must be exactly this. */
  readonly issuer: string;
  /** When set, `aud` (a string or an array) must name at least one of these. */
  readonly audience?: readonly string[];
  /** When set, the header `typ` must be this media type (RFC 7515 §4.1.9; RFC 8725 §3.11). */
  readonly typ?: string;
  /** Seconds of clock skew allowed on `nbf`, `exp` and `iat` (≥ 0; jose's default 0). */
  readonly clockTolerance?: number;
  /** Now, in whole seconds since the epoch (jose floors `currentDate`). */
  readonly now: number;
  /** Claims that must be present (jose's `requiredClaims`). */
  readonly requiredClaims: readonly string[];
  /** When set, `iat` is required and may be at most this many seconds old. */
  readonly maxTokenAge?: number;
}

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });
const { JWTClaimValidationFailed, JWTExpired, JWTInvalid } = errors;

/**
 * jose's `validateClaimsSet` (lib/jwt_claims_set.js) rule by rule, with its error classes,
 * messages, `claim` and `reason`, so that jose-errors.ts maps each refusal as before:
 * a JSON object (RFC 7519 §7.2 step 10), the header `typ` when asked, the required claims in jose's order, `iss` exact
 * (§4.1.1), `aud` intersecting (§4.1.3), then NumericDates (§2) for `iat` and `nbf`, `nbf`
 * (§4.1.5), `exp` (§4.1.4) and the age of `iat` (§4.1.6) within the tolerance.
 */
export function validateClaims(header: Readonly<Record<string, unknown>>, payloadBytes: Uint8Array, rules: ClaimRules): JWTPayload {
  let parsed: unknown;
  try {
    parsed = JSON.parse(STRICT_UTF8.decode(payloadBytes));
  } catch (cause) {
    throw new JWTInvalid("JWT Claims Set must be a top-level JSON object", { cause });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new JWTInvalid("JWT Claims Set must be a top-level JSON object");
  const claims = parsed as JWTPayload;
  if (rules.typ !== undefined && (typeof header.typ !== "string" || mediaType(header.typ) !== mediaType(rules.typ))) {
    throw new JWTClaimValidationFailed('unexpected "typ" JWT header value', claims, "typ", "check_failed");
  }
  for (const claim of presenceOrder(rules)) {
    if (!Object.hasOwn(claims, claim)) throw new JWTClaimValidationFailed(`missing required "${claim}" claim`, claims, claim, "missing");
  }
  if (claims.iss !== rules.issuer) throw unexpected(claims, "iss");
  if (rules.audience !== undefined && !audienceMatches(claims.aud, rules.audience)) throw unexpected(claims, "aud");
  checkTimes(claims, rules);
  return claims;
}

/** jose checks presence in this order: its own options' claims first, then `requiredClaims` reversed, each once. */
function presenceOrder(rules: ClaimRules): Set<string> {
  const checks = [...rules.requiredClaims];
  if (rules.maxTokenAge !== undefined) checks.push("iat");
  if (rules.audience !== undefined) checks.push("aud");
  checks.push("iss");
  return new Set(checks.reverse());
}

function audienceMatches(aud: unknown, accepted: readonly string[]): boolean {
  if (typeof aud === "string") return accepted.includes(aud);
  if (Array.isArray(aud)) return accepted.some((audience) => (aud as unknown[]).includes(audience));
  return false;
}

function checkTimes(claims: JWTPayload, rules: ClaimRules): void {
  const { now, clockTolerance: tolerance = 0, maxTokenAge } = rules;
  const iat = numericDate(claims, "iat", maxTokenAge !== undefined);
  const nbf = numericDate(claims, "nbf", false);
  if (nbf !== undefined && nbf > now + tolerance) throw new JWTClaimValidationFailed('"nbf" claim timestamp check failed', claims, "nbf", "check_failed");
  const exp = numericDate(claims, "exp", false);
  if (exp !== undefined && exp <= now - tolerance) throw new JWTExpired('"exp" claim timestamp check failed', claims, "exp", "check_failed");
  if (maxTokenAge === undefined || iat === undefined) return;
  const age = now - iat;
  if (age - tolerance > maxTokenAge) throw new JWTExpired('"iat" claim timestamp check failed (too far in the past)', claims, "iat", "check_failed");
  if (age < -tolerance) throw new JWTClaimValidationFailed('"iat" claim timestamp check failed (it should be in the past)', claims, "iat", "check_failed");
}

/** A present time claim must be a number, as in jose (`1e400` parses to Infinity and passes here; time-claims.ts refuses it). */
function numericDate(claims: JWTPayload, claim: "iat" | "nbf" | "exp", required: boolean): number | undefined {
  const value: unknown = claims[claim];
  if (value === undefined && !required) return undefined;
  if (typeof value !== "number") throw new JWTClaimValidationFailed(`"${claim}" claim must be a number`, claims, claim, "invalid");
  return value;
}

/** jose's `typ` comparison: case-insensitive, `application/` implied when there is no slash. */
function mediaType(value: string): string {
  const lower = value.toLowerCase();
  return value.includes("/") ? lower : `application/${lower}`;
}

function unexpected(claims: JWTPayload, claim: string): Error {
  return new JWTClaimValidationFailed(`unexpected "${claim}" claim value`, claims, claim, "check_failed");
}
