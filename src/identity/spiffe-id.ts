/**
 * SPIFFE ID parsing per the SPIFFE-ID specification (§2). Strict: anything a conforming
 * implementation would not produce is refused rather than normalised, so a policy sees exactly
 * the ID that was signed. Reused for X.509-SVIDs.
 */

/** The parts of a valid SPIFFE ID. */
export interface SpiffeId {
  /** Lowercase trust domain name, e.g. `example.org`. */
  readonly trustDomain: string;
  /** The path including its leading "/", or "" for the trust domain's own ID. */
  readonly path: string;
}

const SCHEME = "spiffe://";
/** SPIFFE-ID §2.3: a SPIFFE ID must not exceed 2048 bytes. */
const MAX_ID_BYTES = 2048;
/** SPIFFE-ID §2.1: trust domain names use lowercase letters, digits, dots, dashes, underscores. */
export const TRUST_DOMAIN_NAME = /^[a-z0-9._-]+$/;
/** SPIFFE-ID §2.2: path segments use letters, digits, dots, dashes, underscores. */
const SEGMENT = /^[A-Za-z0-9._-]+$/;

/** Parses `text` as a SPIFFE ID; returns undefined when it is not a valid one. */
export function parseSpiffeId(text: string): SpiffeId | undefined {
  if (Buffer.byteLength(text, "utf8") > MAX_ID_BYTES) return undefined;
  // The scheme must be lowercase as written: no case folding, no percent-decoding.
  if (!text.startsWith(SCHEME)) return undefined;
  const rest = text.slice(SCHEME.length);
  const slash = rest.indexOf("/");
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? "" : rest.slice(slash);
  // The character set also excludes ":" (port), "@" (userinfo), "?" (query) and "#" (fragment).
  if (!TRUST_DOMAIN_NAME.test(trustDomain)) return undefined;
  if (path !== "") {
    const segments = path.slice(1).split("/");
    // Empty segments (including a trailing "/") and dot segments are not allowed (SPIFFE-ID §2.2).
    for (const segment of segments) {
      if (segment === "." || segment === ".." || !SEGMENT.test(segment)) return undefined;
    }
  }
  return { trustDomain, path };
}
