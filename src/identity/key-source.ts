import { createLocalJWKSet, type CryptoKey, type JSONWebKeySet } from "jose";

/** The header members that select a verification key. */
export interface KeyLookup {
  readonly alg: string;
  readonly kid?: string | undefined;
}

/**
 * Where one issuer's verification keys come from. Implementations: a static file
 * ({@link StaticKeySource}) and a remote JWKS ({@link RemoteJwksSource}).
 */
export interface KeySource {
  /**
   * Resolves the key for a token header. Rejects with jose's `JWKSNoMatchingKey` when no key
   * matches, jose's `JWKSMultipleMatchingKeys` (async-iterable over candidates) when several
   * do, and BrokerError `temporarily_unavailable` when keys cannot be had.
   */
  getKey(header: KeyLookup): Promise<CryptoKey>;
  /** True while the source holds usable keys. */
  ready(): boolean;
  /** Tries to load keys now; logs and swallows failures. No-op for static sources. */
  warmUp(): Promise<void>;
  /** Changes whenever the key set is replaced, so verifications cached against it lapse. */
  keySetVersion(): number;
  /** Refetches keys older than the cache max age (within the cooldown); undefined when none is due. */
  refreshIfDue(): Promise<void> | undefined;
  /** Milliseconds since the keys were last fetched successfully; undefined for a file, or before the first good fetch. */
  keysAgeMs(): number | undefined;
}

/** A fixed key set, read once at start-up (air-gapped clusters, SPIFFE bundles). */
export class StaticKeySource implements KeySource {
  private readonly resolve: ReturnType<typeof createLocalJWKSet>;

  constructor(jwks: JSONWebKeySet) {
    this.resolve = createLocalJWKSet(jwks);
  }

  getKey(header: KeyLookup): Promise<CryptoKey> {
    return this.resolve({ alg: header.alg, ...(header.kid === undefined ? {} : { kid: header.kid }) });
  }

  ready(): boolean {
    return true;
  }

  async warmUp(): Promise<void> {}

  keySetVersion(): number {
    return 0;
  }

  refreshIfDue(): undefined {
    return undefined;
  }

  keysAgeMs(): undefined {
    return undefined;
  }
}
