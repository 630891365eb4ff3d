import { createLocalJWKSet, type CryptoKey } from "jose";
import { BrokerError } from "../errors/broker-error.js";
import type { Clock } from "../lib/clock.js";
import type { HttpFetch } from "../lib/http-fetch.js";
import type { Log } from "../lib/log.js";
import { fetchJsonBounded } from "./bounded-fetch.js";
import { toVerificationJwks } from "./jwks-document.js";
import { dropUnusableKeys } from "./jwks-key-check.js";
import type { KeyLookup, KeySource } from "./key-source.js";

/** Bounds on remote key fetching; every one has a default in {@link DEFAULT_REMOTE_JWKS_LIMITS}. */
export interface RemoteJwksLimits {
  /** Abort a fetch after this long. */
  readonly timeoutMs: number;
  /** Largest accepted discovery or JWKS body. */
  readonly maxBytes: number;
  /** Largest accepted number of keys in one set. */
  readonly maxKeys: number;
  /** Keys younger than this are used without asking the issuer again. */
  readonly cacheMaxAgeMs: number;
  /** At most one fetch per this interval, whatever triggers it (unknown kid, expiry, failure). */
  readonly cooldownMs: number;
  /** When refreshes keep failing, the last good keys stay usable this long after they were fetched. */
  readonly staleLimitMs: number;
}

export const DEFAULT_REMOTE_JWKS_LIMITS: RemoteJwksLimits = {
  timeoutMs: 5_000,
  maxBytes: 512 * 1024,
  maxKeys: 100,
  cacheMaxAgeMs: 10 * 60_000,
  cooldownMs: 30_000,
  staleLimitMs: 24 * 3_600_000,
};

/** Options for {@link RemoteJwksSource}. */
export interface RemoteJwksOptions {
  /** Configured issuer id, for logs and error details. */
  readonly issuerId: string;
  /** Returns the JWKS URL: the configured jwks_uri, or the one discovery learned. */
  readonly locate: () => Promise<string>;
  readonly fetch: HttpFetch;
  readonly clock: Clock;
  readonly log: Log;
  readonly limits: RemoteJwksLimits;
  /** Treat the fetched document as a possible SPIFFE bundle (profile spiffe). */
  readonly spiffeBundle: boolean;
  /** Told of each published key dropped because it cannot be imported (for metrics). */
  readonly onKeyRefused?: (issuerId: string) => void;
}

type Resolver = ReturnType<typeof createLocalJWKSet>;

/**
 * A remote JWKS, cached and refreshed lazily: on first use, when older than cacheMaxAge, and
 * on an unknown `kid`, never more than once per cooldown, and concurrent callers share one
 * in-flight fetch. Nothing is fetched at construction.
 */
export class RemoteJwksSource implements KeySource {
  private resolver: Resolver | undefined;
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  private lastError = "keys have not been fetched yet";
  private inflight: Promise<void> | undefined;
  private version = 0;

  constructor(private readonly options: RemoteJwksOptions) {}

  async getKey(header: KeyLookup): Promise<CryptoKey> {
    const lookup = { alg: header.alg, ...(header.kid === undefined ? {} : { kid: header.kid }) };
    const refresh = this.refreshIfDue();
    if (refresh !== undefined) await refresh;
    try {
      return await this.usable()(lookup);
    } catch (error) {
      // An unknown kid usually means the issuer rotated: refetch, but at most once per
      // cooldown so a stream of made-up kids cannot turn the broker into a request amplifier.
      if (!isNoMatchingKey(error) || !this.mayFetch()) throw error;
      await this.refreshIfAllowed();
      return this.usable()(lookup);
    }
  }

  keySetVersion(): number {
    return this.version;
  }

  refreshIfDue(): Promise<void> | undefined {
    if (this.resolver !== undefined && this.now() - this.fetchedAt < this.options.limits.cacheMaxAgeMs) return undefined;
    return this.refreshIfAllowed();
  }

  keysAgeMs(): number | undefined {
    return this.resolver === undefined ? undefined : Math.max(0, this.now() - this.fetchedAt);
  }

  ready(): boolean {
    return this.resolver !== undefined && this.now() - this.fetchedAt < this.options.limits.staleLimitMs;
  }

  async warmUp(): Promise<void> {
    await this.refreshIfAllowed();
  }

  private now(): number {
    return this.options.clock.now();
  }

  private mayFetch(): boolean {
    return this.inflight !== undefined || this.now() - this.lastAttemptAt >= this.options.limits.cooldownMs;
  }

  private refreshIfAllowed(): Promise<void> {
    if (this.inflight !== undefined) return this.inflight;
    if (!this.mayFetch()) return Promise.resolve();
    this.inflight = this.refresh().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async refresh(): Promise<void> {
    const { issuerId, limits, log } = this.options;
    this.lastAttemptAt = this.now();
    try {
      const url = await this.options.locate();
      const doc = await fetchJsonBounded(this.options.fetch, url, limits);
      const { jwks, refused } = await dropUnusableKeys(toVerificationJwks(doc, { maxKeys: limits.maxKeys, spiffeBundle: this.options.spiffeBundle }));
      for (const key of refused) {
        log.warn({ issuer: issuerId, kid: key.kid, kty: key.kty, keyIndex: key.index, reason: key.reason }, "issuer key refused: tokens naming it are refused");
        this.options.onKeyRefused?.(issuerId);
      }
      this.resolver = createLocalJWKSet(jwks);
      this.version++;
      this.fetchedAt = this.now();
      log.debug({ issuer: issuerId, keys: jwks.keys.length }, "issuer keys refreshed");
    } catch (error) {
      this.lastError = error instanceof Error ? error.message : String(error);
      log.warn({ issuer: issuerId, reason: this.lastError, hasKeys: this.resolver !== undefined }, "issuer keys refresh failed");
    }
  }

  /** The current keys, or `temporarily_unavailable` when there are none young enough. */
  private usable(): Resolver {
    const now = this.now();
    if (this.resolver !== undefined && now - this.fetchedAt < this.options.limits.staleLimitMs) return this.resolver;
    const waitMs = Math.max(0, this.lastAttemptAt + this.options.limits.cooldownMs - now);
    throw new BrokerError("temporarily_unavailable", "the token issuer's keys are temporarily unavailable", {
      detail: `issuer ${this.options.issuerId}: no usable keys: ${this.lastError}`,
      retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)),
    });
  }
}

function isNoMatchingKey(error: unknown): boolean {
  return error instanceof Error && (error as { code?: unknown }).code === "ERR_JWKS_NO_MATCHING_KEY";
}
