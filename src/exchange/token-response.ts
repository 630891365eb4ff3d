import { TOKEN_TYPE } from "./token-types.js";

/** RFC 8693 §2.2.1 successful response. */
export interface TokenExchangeResponse {
  readonly access_token: string;
  readonly issued_token_type: string;
  readonly token_type: "Bearer";
  readonly expires_in: number;
  readonly scope?: string;
}

/** RFC 8693 §2.2.1; `scope` is included whenever the token carries one. */
export function response(accessToken: string, expiresIn: number, scope: string): TokenExchangeResponse {
  return {
    access_token: accessToken,
    issued_token_type: TOKEN_TYPE.accessToken,
    token_type: "Bearer",
    expires_in: expiresIn,
    ...(scope ? { scope } : {}),
  };
}
