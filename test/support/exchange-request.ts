import type { TokenExchangeRequest } from "../../src/exchange/token-request.js";
import { TOKEN_TYPE } from "../../src/protocol/token-types.js";

/** A well-formed RFC 8693 request for `subjectToken` (type jwt, an access token asked for), as parsed. */
export function exchangeRequest(subjectToken: string, overrides: Partial<TokenExchangeRequest> = {}): TokenExchangeRequest {
  return {
    subjectToken,
    subjectTokenType: TOKEN_TYPE.jwt,
    requestedTokenType: "access_token",
    audiences: [],
    resources: [],
    scopes: [],
    requestedLifetimeSeconds: undefined,
    ...overrides,
  };
}
