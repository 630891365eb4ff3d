/** A JSON value a grant may add to the issued token as an extra claim. */
export type ClaimValue = string | number | boolean | readonly string[];

/** RFC 8693 §4.4 `may_act`: who may act for the subject of a token. */
export interface MayAct {
  readonly sub: string;
  readonly iss?: string;
}
