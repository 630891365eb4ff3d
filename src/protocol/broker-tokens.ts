import type { JWTPayload } from "jose";

// What the broker's own tokens look like: one home for these constants, read by the minters,
// the verifier of broker tokens and the resource-server middleware.

/** The only algorithm the broker signs with: ES256 is ~8-10x cheaper to sign than RSA. */
export const SIGNING_ALGORITHM = "ES256";

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
