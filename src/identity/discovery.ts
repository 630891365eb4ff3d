import type { Clock } from "../lib/clock.js";
import type { HttpFetch } from "../lib/http-fetch.js";
import { fetchJsonBounded, type FetchLimits } from "./bounded-fetch.js";
import { checkDiscoveredJwksUri, stripTrailingSlash } from "./url-policy.js";

/** Options for {@link DiscoveryJwksLocator}. */
export interface DiscoveryOptions {
  /** The configured issuer, exactly as tokens carry it in `iss`. */
  readonly issuer: string;
  readonly fetch: HttpFetch;
  readonly clock: Clock;
  readonly limits: FetchLimits;
  /** How long a discovered jwks_uri is reused before the document is fetched again. */
  readonly maxAgeMs: number;
  /** Origins besides the issuer's that may serve its keys (issuers.yaml `jwks_uri_origins`). */
  readonly extraJwksOrigins: readonly string[];
  /** Accept a loopback http jwks_uri (outside production only). */
  readonly allowLoopbackHttp: boolean;
}

/** The discovery document URL for an issuer (OpenID Connect Discovery 1.0 §4). */
function discoveryUrl(issuer: string): string {
  // §4.1: remove a terminating "/" before appending the well-known path.
  return `${stripTrailingSlash(issuer)}/.well-known/openid-configuration`;
}

/**
 * Learns an issuer's jwks_uri from its OpenID Connect discovery document. The only URL it
 * fetches is derived from the configured issuer, never from anything a token carries.
 */
export class DiscoveryJwksLocator {
  private jwksUri: string | undefined;
  private fetchedAt = 0;

  constructor(private readonly options: DiscoveryOptions) {}

  /**
   * Returns the jwks_uri, fetching the discovery document when none is cached or the cached
   * one is older than maxAge. A failed refetch falls back to the last good jwks_uri.
   */
  async locate(): Promise<string> {
    const now = this.options.clock.now();
    if (this.jwksUri !== undefined && now - this.fetchedAt < this.options.maxAgeMs) return this.jwksUri;
    try {
      this.jwksUri = await this.fetchJwksUri();
      this.fetchedAt = now;
    } catch (error) {
      if (this.jwksUri === undefined) throw error;
    }
    return this.jwksUri;
  }

  private async fetchJwksUri(): Promise<string> {
    const url = discoveryUrl(this.options.issuer);
    const doc = await fetchJsonBounded(this.options.fetch, url, this.options.limits);
    if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new Error(`${url}: not a JSON object`);
    const { issuer, jwks_uri: jwksUri } = doc as Record<string, unknown>;
    // OIDC Discovery §4.3 / RFC 8414 §3.3: the document's issuer must equal the configured one
    // exactly, or a compromised or confused host could speak for another issuer.
    if (issuer !== this.options.issuer) throw new Error(`${url}: "issuer" does not match the configured issuer`);
    if (typeof jwksUri !== "string") throw new Error(`${url}: "jwks_uri" is missing`);
    const { issuer: configured, extraJwksOrigins, allowLoopbackHttp } = this.options;
    const problem = checkDiscoveredJwksUri(jwksUri, { issuer: configured, extraOrigins: extraJwksOrigins, allowLoopbackHttp });
    if (problem !== undefined) throw new Error(`${url}: "jwks_uri" ${problem}`);
    return jwksUri;
  }
}
