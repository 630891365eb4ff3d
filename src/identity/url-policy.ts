/**
 * Which URLs the identity module may fetch or trust as issuers: https everywhere, plain http
 * only on loopback (tests and local development). Used for configured issuers, configured
 * jwks_uri values and jwks_uri values learned from discovery documents.
 */

const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** Options for {@link checkTrustedUrl}. */
export interface TrustedUrlOptions {
  /** Issuer identifiers must not carry a query (OpenID Connect Discovery 1.0 §2). */
  readonly allowQuery?: boolean;
}

/**
 * Returns a problem description when `text` is not an acceptable issuer or key URL,
 * undefined when it is.
 */
export function checkTrustedUrl(text: string, options: TrustedUrlOptions = {}): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return "is not an absolute URL";
  }
  if (url.protocol === "http:") {
    if (!LOOPBACK_HOSTS.has(url.hostname)) return "must use https (plain http only on loopback: 127.0.0.1, localhost, [::1])";
  } else if (url.protocol !== "https:") {
    return "must use https";
  }
  if (url.username !== "" || url.password !== "") return "must not contain user info";
  // RFC 8414 §2 / OIDC Discovery §2: issuer identifiers have no query or fragment.
  if (text.includes("#")) return "must not contain a fragment";
  if (!options.allowQuery && text.includes("?")) return "must not contain a query";
  return undefined;
}

/** Options for {@link checkDiscoveredJwksUri}. */
export interface DiscoveredJwksUriOptions {
  /** The configured issuer whose discovery document named the URL. */
  readonly issuer: string;
  /** Origins besides the issuer's that may serve its keys (issuers.yaml `jwks_uri_origins`). */
  readonly extraOrigins: readonly string[];
  /** Plain http on loopback, as for configured URLs: tests and local development, never production. */
  readonly allowLoopbackHttp: boolean;
}

/**
 * Returns a problem description when a `jwks_uri` learned from a discovery document may not be
 * fetched: it must be https (loopback http only outside production) and on the issuer's own
 * origin or one the operator listed. The document is the issuer's word, but a compromised or
 * confused one must not send the broker for keys in cleartext or to a host (or a local service)
 * nobody configured.
 */
export function checkDiscoveredJwksUri(text: string, options: DiscoveredJwksUriOptions): string | undefined {
  const problem = checkTrustedUrl(text, { allowQuery: true });
  if (problem !== undefined) return problem;
  const url = new URL(text);
  if (url.protocol !== "https:" && !options.allowLoopbackHttp) return "must use https";
  const issuerOrigin = new URL(options.issuer).origin;
  if (url.origin !== issuerOrigin && !options.extraOrigins.includes(url.origin)) {
    return `must be on the issuer's origin (${issuerOrigin}) or one listed in jwks_uri_origins`;
  }
  return undefined;
}

/** Returns a problem description when `text` is not a bare origin (scheme, host, port) acceptable as a key host. */
export function checkTrustedOrigin(text: string): string | undefined {
  const problem = checkTrustedUrl(text);
  if (problem !== undefined) return problem;
  if (new URL(text).origin !== stripTrailingSlash(text)) return "must be an origin like https://keys.example.com (no path)";
  return undefined;
}

/** Compares issuer URLs ignoring one trailing slash, to catch near-duplicates in config. */
export function sameIssuerUrl(a: string, b: string): boolean {
  return stripTrailingSlash(a) === stripTrailingSlash(b);
}

/** Removes one trailing "/" (OpenID Connect Discovery 1.0 §4.1 does the same before appending). */
export function stripTrailingSlash(text: string): string {
  return text.endsWith("/") ? text.slice(0, -1) : text;
}
