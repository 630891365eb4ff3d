/** RFC 8693 §3 token type identifiers. */
export const TOKEN_TYPE = {
  accessToken: "urn:ietf:params:oauth:token-type:access_token",
  jwt: "urn:ietf:params:oauth:token-type:jwt",
  idToken: "urn:ietf:params:oauth:token-type:id_token",
} as const;

/** RFC 8693 §2.1 grant type. */
export const TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange";

/** Subject token types the broker accepts: external JWTs and ID tokens, and its own access tokens. */
export type SubjectTokenType = (typeof TOKEN_TYPE)[keyof typeof TOKEN_TYPE];

export const SUBJECT_TOKEN_TYPES: readonly string[] = [TOKEN_TYPE.accessToken, TOKEN_TYPE.jwt, TOKEN_TYPE.idToken];

/** Requested token types the broker can issue. */
export const REQUESTED_TOKEN_TYPES: readonly string[] = [TOKEN_TYPE.accessToken, TOKEN_TYPE.jwt];
