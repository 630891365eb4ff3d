// What the broker's own tokens look like: one home for these constants, read by the minters,
// the verifier of broker tokens and the resource-server middleware.

/** The only algorithm the broker signs with: ES256 is ~8-10x cheaper to sign than RSA. */
export const SIGNING_ALGORITHM = "ES256";

/** RFC 9068 §2.1: the media type of a JWT access token. */
export const ACCESS_TOKEN_TYP = "at+jwt";
