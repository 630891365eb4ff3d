import { sha256Hex } from "../lib/hash.js";
import { epochSeconds, type Clock } from "../lib/clock.js";
import { TokenDoorkeeper } from "./token-doorkeeper.js";
import type { VerifiedSubject } from "./types.js";

/** Bounds of the verified-token cache; `ttlSeconds: 0` turns it off. */
export interface VerifiedTokenCacheLimits {
  /** Longest a verification is reused, seconds. */
  readonly ttlSeconds: number;
  /** Most entries held; the oldest goes first when full. */
  readonly maxEntries: number;
}

export const DEFAULT_VERIFIED_TOKEN_CACHE: VerifiedTokenCacheLimits = { ttlSeconds: 60, maxEntries: 10_000 };

interface Entry {
  readonly subject: VerifiedSubject;
  /** Seconds since the epoch; entries sit in the map in this order. */
  readonly cachedAt: number;
  /** Seconds since the epoch: the entry is used only before this instant. */
  readonly validUntil: number;
  /** The issuer key set the signature was checked against (see {@link KeySetStamp}). */
  readonly keys: KeySetStamp;
  readonly keysVersion: number;
}

/** What a cached verification depends on besides time: the issuer's current key set. */
export interface KeySetStamp {
  /** Changes whenever the issuer's verification keys are replaced (a refetch). */
  keySetVersion(): number;
  /** False when the keys may no longer be used (stale past their limit). */
  ready(): boolean;
  /**
   * The freshness check a verification makes before it uses the keys: refetches them (within the
   * cooldown) when they are older than the cache max age. Undefined when they are fresh.
   */
  refreshIfDue(): Promise<void> | undefined;
}

/**
 * Remembers external tokens that passed every check, keyed by a SHA-256 digest of the whole
 * token (no token is stored), so a workload presenting the same token again (a CI job asking for
 * several audiences, a sidecar renewing) skips the signature check — as the Kubernetes API server
 * caches token reviews. A hit is exactly as strict as a fresh verification would be:
 * - it expires at the token's `exp`, at `iat + max_token_age`, and after `ttlSeconds`, whichever
 *   comes first (every other check of a verification cannot change with time);
 * - it is dropped as soon as the issuer's key set changes (a refetch), so a key removed from the
 *   issuer's JWKS stops vouching at once;
 * - it never outlives the key set it was checked against: a hit makes the same freshness check a
 *   fresh verification would (refetching keys older than the JWKS cache max age), so once the
 *   issuer has dropped a key and the keys are due, the hit is dropped and the token re-verified;
 * - replay protection, revocation, blocks and policy are not cached: they run on every request.
 * Only successes are cached, so a flood of bad tokens cannot fill it with anything. And only
 * tokens verified twice: the first successful verification of a token leaves only its digest's
 * fingerprint with the {@link TokenDoorkeeper} (as many as `maxEntries`); the second, while the
 * fingerprint is remembered, caches it; the third is a hit. Tokens presented once (a CI job's
 * OIDC token) so cost the cache nothing.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, Entry>();
  private readonly doorkeeper: TokenDoorkeeper | undefined;

  constructor(
    private readonly limits: VerifiedTokenCacheLimits,
    private readonly clock: Clock,
  ) {
    this.doorkeeper = this.enabled ? new TokenDoorkeeper(limits.maxEntries) : undefined;
  }

  get enabled(): boolean {
    return this.limits.ttlSeconds > 0 && this.limits.maxEntries > 0;
  }

  /** The digest a token is cached under. */
  static digest(token: string): string {
    // The same digest the audit record names the token by (sha256Hex remembers the last one).
    return sha256Hex(token);
  }

  async get(digest: string): Promise<VerifiedSubject | undefined> {
    const entry = this.entries.get(digest);
    if (entry === undefined) return undefined;
    // As strict as a miss: keys past their max age are refetched before the entry may answer.
    const refresh = entry.keys.refreshIfDue();
    if (refresh !== undefined) await refresh;
    if (epochSeconds(this.clock) >= entry.validUntil || !entry.keys.ready() || entry.keys.keySetVersion() !== entry.keysVersion) {
      if (this.entries.get(digest) === entry) this.entries.delete(digest);
      return undefined;
    }
    return entry.subject;
  }

  /**
   * Offers a successful full verification to the cache: cached when the doorkeeper remembers the
   * digest from an earlier verification, else only remembered there. Answers whether it was
   * cached. `maxTokenAgeSeconds` is the issuer's max_token_age when it applies (a token with
   * `iat`), else undefined.
   */
  admit(digest: string, subject: VerifiedSubject, keys: KeySetStamp, maxTokenAgeSeconds: number | undefined): boolean {
    if (this.doorkeeper === undefined || !this.doorkeeper.admits(digest)) return false;
    const now = epochSeconds(this.clock);
    let validUntil = Math.min(now + this.limits.ttlSeconds, subject.expiresAt);
    if (maxTokenAgeSeconds !== undefined && subject.issuedAt !== undefined) validUntil = Math.min(validUntil, subject.issuedAt + maxTokenAgeSeconds);
    // Re-inserting moves the entry to the end, keeping the map in cachedAt order.
    this.entries.delete(digest);
    if (validUntil <= now) return false;
    this.evict(now);
    // Every hit hands out the same objects: freeze them so no caller can change another's view.
    this.entries.set(digest, { subject: deepFreeze(subject), cachedAt: now, validUntil, keys, keysVersion: keys.keySetVersion() });
    return true;
  }

  /**
   * Drops entries past their TTL from the front of the map (the oldest), then the oldest while
   * full: memory stays bounded by maxEntries, and expired entries go as new ones arrive.
   */
  private evict(now: number): void {
    for (const [digest, entry] of this.entries) {
      if (entry.cachedAt + this.limits.ttlSeconds > now && this.entries.size < this.limits.maxEntries) break;
      this.entries.delete(digest);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  /** Digests the doorkeeper remembers (verified once, not necessarily cached). */
  get remembered(): number {
    return this.doorkeeper?.size ?? 0;
  }
}

/** Freezes a verified subject and its claims; nesting past `depth` (never in real tokens) is left as is. */
function deepFreeze<T>(value: T, depth = 32): T {
  if (depth > 0 && typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member, depth - 1);
  }
  return value;
}
