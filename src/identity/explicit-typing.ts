/**
 * Explicit typing of identity tokens (RFC 8725 §3.11): a JWT whose `typ` says it is something else
 * (a logout token, a security event, a DPoP proof) must not be taken as proof of identity, even
 * when its issuer signed it for us. Each issuer accepts the `typ` values it declares.
 */
import type { VerifiedSubject } from "./types.js";

/**
 * A `typ` value as a media type to compare: RFC 7515 §4.1.9 says to read a value without "/" as if
 * "application/" were prepended, and media type names are case-insensitive (RFC 2045 §5.1), so
 * `JWT`, `jwt` and `application/jwt` are one type.
 */
export function normalizeTyp(typ: string): string {
  const lower = typ.toLowerCase();
  return lower.includes("/") ? lower : `application/${lower}`;
}

/** Accepted by default besides an absent `typ`: plain JWTs (RFC 7519 §5.1 recommends "JWT"). */
export const DEFAULT_TYP: readonly string[] = ["JWT"];
/** JWT-SVID §2.3: `typ`, when present, is JWT or JOSE. */
export const SPIFFE_DEFAULT_TYP: readonly string[] = ["JWT", "JOSE"];

/** Types registered for JWTs that are never identity tokens; an issuer may not declare them. */
const FOREIGN_TYP: ReadonlySet<string> = new Set(
  [
    "logout+jwt", // OpenID Connect Back-Channel Logout §2.4
    "secevent+jwt", // RFC 8417 §2.3
    "dpop+jwt", // RFC 9449 §4.2
    "token-introspection+jwt", // RFC 9701 §5
    "kb+jwt", // SD-JWT key binding
  ].map(normalizeTyp),
);

/** The access-token type of RFC 9068 §2.1: never an ID token. */
const ACCESS_TOKEN_TYP = normalizeTyp("at+jwt");

/** Why `typ` may not be declared as accepted by an issuer, or undefined. */
export function declaredTypProblem(typ: string): string | undefined {
  if (typ.trim() === "" || /[\s,]/.test(typ)) return "is not a media type";
  if (FOREIGN_TYP.has(normalizeTyp(typ))) return `${typ} marks tokens that are not identity tokens (RFC 8725 §3.11)`;
  return undefined;
}

/** Why a token with this header `typ` is refused by an issuer accepting `accepted` (normalized), or undefined. */
export function typProblem(typ: unknown, accepted: ReadonlySet<string>): string | undefined {
  if (typ === undefined) return undefined;
  if (typeof typ !== "string") return 'header "typ" is not a string';
  if (!accepted.has(normalizeTyp(typ))) return `header "typ" ${JSON.stringify(typ.slice(0, 64))} is not accepted from this issuer`;
  return undefined;
}

/**
 * Why a verified token is not an OpenID Connect ID token (OIDC Core §2), as `subject_token_type`
 * `urn:ietf:params:oauth:token-type:id_token` says it is (RFC 8693 §3), or undefined. `iss`,
 * `sub`, `aud` and `exp` are checked for every token; an ID token also carries `iat`, and is not
 * typed as an access token.
 */
export function idTokenProblem(subject: VerifiedSubject): string | undefined {
  if (subject.typ === ACCESS_TOKEN_TYP) return "is an access token (typ at+jwt), not an ID token";
  if (typeof subject.claims.iat !== "number") return 'is not an ID token: it has no "iat" claim';
  return undefined;
}
