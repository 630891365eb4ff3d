import type { JWTPayload } from "jose";

// What the broker's own tokens look like: one home for these constants, read by the minters,
// the verifier of broker tokens and the resource-server middleware.

/**
 * The JWS algorithms a broker signing key may have (RFC 7518 §3.4, §3.3, §3.5), one per key,
 * recorded in keys/signing/keyset.json. RS256 and PS256 are for relying parties that accept RSA only.
 */
export const BROKER_SIGNING_ALGORITHMS = ["ES256", "RS256", "PS256"] as const;

export type BrokerSigningAlgorithm = (typeof BROKER_SIGNING_ALGORITHMS)[number];

/**
 * The default algorithm of a new signing key (`broker keys init`/`rotate --prepare` without
 * `--alg`, development keys): ES256 signs in ~35 µs where RSA-2048 takes ~1 ms, and its tokens are smaller.
 */
export const SIGNING_ALGORITHM: BrokerSigningAlgorithm = "ES256";

/** True when `alg` is one of {@link BROKER_SIGNING_ALGORITHMS}. */
export function isBrokerSigningAlgorithm(alg: unknown): alg is BrokerSigningAlgorithm {
  return typeof alg === "string" && (BROKER_SIGNING_ALGORITHMS as readonly string[]).includes(alg);
}

/** Longest broker token accepted anywhere (verifier, Authorization header): far above any the broker mints. */
export const MAX_BROKER_TOKEN_CHARS = 8192;

/** RFC 9068 §2.1: the media type of a JWT access token. */
export const ACCESS_TOKEN_TYP = "at+jwt";

/** RFC 9068 §2.2: the claims every broker access token carries; a verifier requires them all. */
export const ACCESS_TOKEN_CLAIMS = ["iss", "sub", "aud", "exp", "iat", "jti"] as const;

/** The claims of a broker access token that passed verification, as the broker and a resource server read them. */
export interface AccessTokenClaims extends JWTPayload {
  readonly iss: string;
  readonly sub: string;
  readonly aud: string | string[];
  readonly exp: number;
  readonly iat: number;
  readonly jti: string;
  readonly client_id?: string;
  readonly scope?: string;
  /** RFC 9449 §6.1 `{ jkt }` of a DPoP-bound token; read it through `boundJkt` (src/dpop/binding.ts). */
  readonly cnf?: unknown;
}
