import { TOKEN_TYPE } from "../protocol/token-types.js";

/** RFC 8693 §2.2.1 successful response. */
export interface TokenExchangeResponse {
  readonly access_token: string;
  readonly issued_token_type: string;
  /**
   * RFC 8693 §2.2.1: "N_A" when the token is not an access token (a JWT-SVID); RFC 9449 §5: "DPoP"
   * when the access token is bound to the key of the request's DPoP proof.
   */
  readonly token_type: "Bearer" | "DPoP" | "N_A";
  readonly expires_in: number;
  readonly scope?: string;
}

/** RFC 8693 §2.2.1; `scope` is included whenever the token carries one; `DPoP` for a bound token (RFC 9449 §5). */
export function response(accessToken: string, expiresIn: number, scope: string, dpopBound = false): TokenExchangeResponse {
  const answer: { -readonly [K in keyof TokenExchangeResponse]: TokenExchangeResponse[K] } = {
    access_token: accessToken,
    issued_token_type: TOKEN_TYPE.accessToken,
    token_type: dpopBound ? "DPoP" : "Bearer",
    expires_in: expiresIn,
  };
  // Added, not spread in: a spread would build the object through a runtime copy (lib/merged.ts).
  if (scope) answer.scope = scope;
  return answer;
}

/**
 * RFC 8693 §2.2.1 for a JWT-SVID: `issued_token_type` is the JWT type and `token_type` is "N_A",
 * since a JWT-SVID is not an OAuth access token (it opens none of the broker's own endpoints).
 */
export function jwtSvidResponse(jwtSvid: string, expiresIn: number): TokenExchangeResponse {
  return { access_token: jwtSvid, issued_token_type: TOKEN_TYPE.jwt, token_type: "N_A", expires_in: expiresIn };
}
