/** Longest URI compared as `htu`; a target URI past this is refused, not parsed. */
export const MAX_HTU_LENGTH = 2048;

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/**
 * The form in which two HTTP target URIs are compared (RFC 9449 §4.3 check 9): query and fragment
 * dropped, then syntax-based normalisation (RFC 3986 §6.2.2: scheme and host lowercased,
 * percent-encodings uppercased and unreserved ones decoded, dot segments removed) and scheme-based
 * normalisation (§6.2.3: default port dropped, empty path "/"). The WHATWG URL parser does all of
 * it but the percent-encoding step, done here. Undefined for anything but an absolute http(s) URI
 * without user information (`https://user@host/` is never a target URI this broker answers).
 *
 * A trailing slash is significant: `/token/` and `/token` are different resources (§6.2.2 keeps it).
 */
export function normalizeHttpUri(text: string): string | undefined {
  if (text.length > MAX_HTU_LENGTH || !URL.canParse(text)) return undefined;
  const url = new URL(text);
  if ((url.protocol !== "https:" && url.protocol !== "http:") || url.username !== "" || url.password !== "") return undefined;
  const path = url.pathname.replace(/%([0-9A-Fa-f]{2})/g, (_escape, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
  });
  return `${url.protocol}//${url.host}${path}`;
}
