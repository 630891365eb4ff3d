import { isIPv6 } from "node:net";

/** Longest URI compared as `htu`; a target URI past this is refused, not parsed. */
export const MAX_HTU_LENGTH = 2048;

// RFC 3986 Appendix A, the pieces an absolute http(s) URI is made of.
const PCT_ENCODED = "%[0-9A-Fa-f]{2}";
const UNRESERVED = "A-Za-z0-9\\-._~";
const SUB_DELIMS = "!$&'()*+,;=";
const PCHAR = `(?:[${UNRESERVED}${SUB_DELIMS}:@]|${PCT_ENCODED})`;
/** scheme "://" authority path-abempty [ "?" query ] [ "#" fragment ] (§3, §3.3, §3.4, §3.5). */
const ABSOLUTE_URI = new RegExp(
  `^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)((?:/${PCHAR}*)*)(?:\\?(?:${PCHAR}|[/?])*)?(?:#(?:${PCHAR}|[/?])*)?$`,
);
/** §3.2.2 reg-name, non-empty (RFC 9110 §4.2.1: an http(s) URI with an empty host is invalid). */
const REG_NAME = new RegExp(`^(?:[${UNRESERVED}${SUB_DELIMS}]|${PCT_ENCODED})+$`);
const DEC_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9][0-9]|[0-9])";
/** §3.2.2 IPv4address: dotted-decimal, four octets, no leading zeros. */
const IPV4_ADDRESS = new RegExp(`^${DEC_OCTET}(?:\\.${DEC_OCTET}){3}$`);
/**
 * A reg-name whose last label is a number (`2130706433`, `0x7f.1`, `127.1`, `0177.0.0.1`): many
 * resolvers read these as IPv4 addresses (§7.4), the WHATWG parser among them. Refused, so that no
 * host string means an address it does not spell out.
 */
const NUMERIC_LAST_LABEL = /(?:^|\.)(?:0x[0-9a-f]*|[0-9]+)\.?$/i;
const PORT = /^(?:[1-9][0-9]{0,4})?$/;
const DEFAULT_PORTS: Readonly<Record<string, string>> = { http: "80", https: "443" };
const UNRESERVED_CHAR = new RegExp(`^[${UNRESERVED}]$`);

/**
 * The form in which two HTTP target URIs are compared (RFC 9449 §4.3 check 9), or undefined when
 * `text` is not an absolute http(s) URI by the grammar of RFC 3986 (Appendix A), with a host and
 * without user information (`https://user@host/` is never a target URI this broker answers).
 *
 * Validation is our own, by the RFC's ABNF: the WHATWG URL parser repairs what RFC 3986 refuses
 * (`http:host/x`, backslashes, surrounding spaces, `http://2130706433/`), so strings that are no
 * URI at all would compare equal to the token endpoint. Then only the normalisations of RFC 3986
 * §6.2 apply: syntax-based (§6.2.2: scheme and host lowercased, percent-encodings uppercased and
 * those of unreserved characters decoded, dot segments removed) and scheme-based (§6.2.3: an
 * empty or default port dropped, an empty path "/"). Query and fragment are dropped: check 9
 * ignores them.
 *
 * A trailing slash is significant: `/token/` and `/token` are different resources (§6.2.2 keeps it).
 */
export function normalizeHttpUri(text: string): string | undefined {
  if (text.length > MAX_HTU_LENGTH) return undefined;
  const match = ABSOLUTE_URI.exec(text);
  if (match === null) return undefined;
  const [, rawScheme = "", authority = "", rawPath = ""] = match;
  const scheme = rawScheme.toLowerCase();
  const defaultPort = DEFAULT_PORTS[scheme];
  if (defaultPort === undefined) return undefined;
  const hostAndPort = splitAuthority(authority);
  if (hostAndPort === undefined || !PORT.test(hostAndPort.port)) return undefined;
  const host = normalizeHost(hostAndPort.host);
  if (host === undefined) return undefined;
  const port = hostAndPort.port === "" || hostAndPort.port === defaultPort ? "" : `:${hostAndPort.port}`;
  const path = removeDotSegments(normalizePercentEncoding(rawPath));
  return `${scheme}://${host}${port}${path === "" ? "/" : path}`;
}

/** host [ ":" port ] of an authority without user information (§3.2); undefined when it has one. */
function splitAuthority(authority: string): { host: string; port: string } | undefined {
  if (authority.includes("@")) return undefined;
  if (authority.startsWith("[")) {
    const end = authority.indexOf("]");
    if (end === -1) return undefined;
    const rest = authority.slice(end + 1);
    if (rest !== "" && !rest.startsWith(":")) return undefined;
    return { host: authority.slice(0, end + 1), port: rest.slice(1) };
  }
  const colon = authority.indexOf(":");
  return colon === -1 ? { host: authority, port: "" } : { host: authority.slice(0, colon), port: authority.slice(colon + 1) };
}

/** A valid host (§3.2.2) in its §6.2.2 normal form; undefined for anything else. */
function normalizeHost(host: string): string | undefined {
  if (host.startsWith("[")) {
    // IP-literal: an IPv6address (no zone identifier: RFC 3986 has none). IPvFuture is refused.
    const address = host.slice(1, -1);
    return address.includes("%") || !isIPv6(address) ? undefined : `[${address.toLowerCase()}]`;
  }
  if (IPV4_ADDRESS.test(host)) return host;
  if (!REG_NAME.test(host)) return undefined;
  const normalized = normalizePercentEncoding(host.toLowerCase());
  return NUMERIC_LAST_LABEL.test(normalized) ? undefined : normalized;
}

/** §6.2.2.1, §6.2.2.2: percent-encodings of unreserved characters decoded, the others uppercased. */
function normalizePercentEncoding(text: string): string {
  return text.replace(/%([0-9A-Fa-f]{2})/g, (_escape, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED_CHAR.test(char) ? char : `%${hex.toUpperCase()}`;
  });
}

/** RFC 3986 §5.2.4 remove_dot_segments, for a path-abempty (empty, or starting with "/"). */
function removeDotSegments(path: string): string {
  let input = path;
  const output: string[] = [];
  while (input !== "") {
    if (input.startsWith("/./")) input = input.slice(2);
    else if (input === "/.") input = "/";
    else if (input.startsWith("/../")) {
      input = input.slice(3);
      output.pop();
    } else if (input === "/..") {
      input = "/";
      output.pop();
    } else {
      const next = input.indexOf("/", 1);
      const segment = next === -1 ? input : input.slice(0, next);
      output.push(segment);
      input = input.slice(segment.length);
    }
  }
  return output.join("");
}
