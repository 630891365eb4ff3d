import type { JWTPayload } from "jose";

/** What a profile makes of a verified token: attributes, or a reason to reject it. */
export type ProfileResult =
  | { readonly ok: true; readonly attributes: Readonly<Record<string, string>> }
  | { readonly ok: false; readonly reason: string };

/**
 * Normalises one platform's verified claims into string attributes. Runs only after the
 * signature and time checks passed; a rejection here is still `invalid_request`.
 */
export type Profile = (claims: Readonly<JWTPayload>, header: Readonly<Record<string, unknown>>) => ProfileResult;

export const accept = (attributes: Record<string, string>): ProfileResult => ({ ok: true, attributes });
export const reject = (reason: string): ProfileResult => ({ ok: false, reason });

/**
 * A claim as an attribute string: strings as they are, booleans and finite numbers in their
 * canonical text. Objects, arrays, empty strings and anything else yield undefined.
 */
function attributeValue(value: unknown): string | undefined {
  if (typeof value === "string") return value === "" ? undefined : value;
  if (typeof value === "boolean") return String(value);
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return undefined;
}

/** Copies the named claims that are present and scalar, as strings. */
export function pickAttributes(source: Readonly<Record<string, unknown>>, names: readonly string[]): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const name of names) {
    const value = attributeValue(source[name]);
    if (value !== undefined) attributes[name] = value;
  }
  return attributes;
}

/**
 * An immutable numeric id claim (number or decimal string) as a canonical decimal string,
 * so `123`, `"123"` and `"0123"` all compare equal. Undefined when it is not such an id.
 */
export function numericId(value: unknown): string | undefined {
  if (typeof value === "number") return Number.isSafeInteger(value) && value >= 0 ? String(value) : undefined;
  if (typeof value === "string" && /^[0-9]{1,20}$/.test(value)) return BigInt(value).toString();
  return undefined;
}

/** A record-valued claim, or undefined. */
export function objectClaim(value: unknown): Readonly<Record<string, unknown>> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
