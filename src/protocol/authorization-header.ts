// The grammar of a token in the `Authorization` header, one home for the broker's bearer
// endpoints, the resource-server verifier and the setting that travels as a bearer token.

import { MAX_BROKER_TOKEN_CHARS } from "./broker-tokens.js";

/** RFC 6750 §2.1 b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" (RFC 9449 §7.1 token68 alike). */
const B64TOKEN_SOURCE = String.raw`[A-Za-z0-9\-._~+/]+=*`;
export const B64TOKEN = new RegExp(`^${B64TOKEN_SOURCE}$`);

/** RFC 6750 §2.1: `Bearer` 1*SP b64token; RFC 9449 §7.1: `DPoP` 1*SP token68 (schemes are case-insensitive). */
const BEARER = new RegExp(`^Bearer +(${B64TOKEN_SOURCE})$`, "i");
const DPOP = new RegExp(`^DPoP +(${B64TOKEN_SOURCE})$`, "i");

/** Longest header read: a broker token and its scheme (a longer one holds no acceptable credential). */
const MAX_HEADER_CHARS = MAX_BROKER_TOKEN_CHARS + 16;

/**
 * The credential of an `Authorization: Bearer …` or `Authorization: DPoP …` header, with its
 * scheme; undefined when the header is missing, too long, uses another scheme or is malformed.
 * Bearer tokens are accepted only in the header: never from a form field or the query string
 * (RFC 6750 §2.2, §2.3).
 */
export function authorizationCredential(header: string | undefined): { readonly scheme: "Bearer" | "DPoP"; readonly token: string } | undefined {
  if (header === undefined || header.length > MAX_HEADER_CHARS) return undefined;
  const trimmed = header.trim();
  const bearer = BEARER.exec(trimmed)?.[1];
  if (bearer !== undefined) return { scheme: "Bearer", token: bearer };
  const dpop = DPOP.exec(trimmed)?.[1];
  return dpop === undefined ? undefined : { scheme: "DPoP", token: dpop };
}
