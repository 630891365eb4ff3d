import { merged } from "../lib/merged.js";
import { BrokerError } from "../errors/broker-error.js";
import type { GrantedTokenType, RequestContext } from "../policy/types.js";
import type { FormFields } from "../protocol/form-fields.js";
import { isScopeToken } from "../protocol/scope.js";
import { REQUESTED_TOKEN_TYPES, SUBJECT_TOKEN_TYPES, TOKEN_EXCHANGE_GRANT, TOKEN_TYPE, type SubjectTokenType } from "../protocol/token-types.js";

/** An RFC 8693 §2.1 request that is well-formed. Nothing in it has been verified yet. */
export interface TokenExchangeRequest {
  readonly subjectToken: string;
  readonly subjectTokenType: SubjectTokenType;
  readonly requestedTokenType: GrantedTokenType;
  readonly audiences: readonly string[];
  readonly resources: readonly string[];
  readonly scopes: readonly string[];
  readonly requestedLifetimeSeconds: number | undefined;
  /** RFC 8693 §2.1 `actor_token` with its `actor_token_type`; undefined: no delegation asked. */
  readonly actorToken?: { readonly token: string; readonly type: SubjectTokenType };
}

const MAX_TARGETS = 10;
const MAX_TARGET_LENGTH = 512;
const MAX_SCOPES = 50;
const MAX_REQUESTED_LIFETIME_SECONDS = 86_400;

/**
 * Checks the shape of a token-exchange request (RFC 8693 §2.1, RFC 6749 §5.2 error codes).
 * Throws BrokerError; nothing here touches a key or a store.
 */
export function parseTokenExchangeRequest(fields: FormFields): TokenExchangeRequest {
  const grantType = required(fields, "grant_type");
  if (grantType !== TOKEN_EXCHANGE_GRANT) {
    throw new BrokerError("unsupported_grant_type", `grant_type must be ${TOKEN_EXCHANGE_GRANT}`);
  }
  const subjectToken = required(fields, "subject_token");
  const subjectTokenType = required(fields, "subject_token_type");
  if (!SUBJECT_TOKEN_TYPES.includes(subjectTokenType)) {
    throw new BrokerError("invalid_request", `unsupported subject_token_type; accepted: ${SUBJECT_TOKEN_TYPES.join(", ")}`);
  }
  // RFC 8693 §2.1: actor_token_type is REQUIRED with actor_token and MUST NOT appear without it.
  const actorToken = fields.single("actor_token");
  const actorTokenType = fields.single("actor_token_type");
  if ((actorToken === undefined) !== (actorTokenType === undefined)) {
    throw new BrokerError("invalid_request", "actor_token and actor_token_type must be sent together");
  }
  if (actorTokenType !== undefined && !SUBJECT_TOKEN_TYPES.includes(actorTokenType)) {
    throw new BrokerError("invalid_request", `unsupported actor_token_type; accepted: ${SUBJECT_TOKEN_TYPES.join(", ")}`);
  }
  const request: TokenExchangeRequest = {
    subjectToken,
    subjectTokenType: subjectTokenType as SubjectTokenType,
    requestedTokenType: requestedTokenType(fields.single("requested_token_type")),
    audiences: targets(fields.all("audience"), "audience", false),
    resources: targets(fields.all("resource"), "resource", true),
    scopes: scopes(fields.single("scope")),
    requestedLifetimeSeconds: requestedLifetime(fields.single("requested_lifetime")),
  };
  // merged only for a delegation request, not a spread on every request (lib/merged.ts).
  return actorToken !== undefined && actorTokenType !== undefined ? merged(request, { actorToken: { token: actorToken, type: actorTokenType as SubjectTokenType } }) : request;
}

function required(fields: FormFields, name: string): string {
  const value = fields.single(name);
  if (value === undefined) throw new BrokerError("invalid_request", `missing ${name}`);
  return value;
}

function requestedTokenType(value: string | undefined): GrantedTokenType {
  if (value === undefined || value === TOKEN_TYPE.accessToken) return "access_token";
  if (value === TOKEN_TYPE.jwt) return "jwt";
  throw new BrokerError("invalid_request", `unsupported requested_token_type; supported: ${REQUESTED_TOKEN_TYPES.join(", ")}`);
}

function targets(values: readonly string[], name: string, mustBeAbsoluteUri: boolean): string[] {
  if (values.length > MAX_TARGETS) throw new BrokerError("invalid_request", `too many ${name} parameters (max ${MAX_TARGETS})`);
  for (const value of values) {
    if (value.length > MAX_TARGET_LENGTH || hasControlCharacter(value)) {
      throw new BrokerError("invalid_request", `${name} is too long or holds control characters`);
    }
    // RFC 8693 §2.1 / RFC 8707 §2: resource is an absolute URI without a fragment.
    if (mustBeAbsoluteUri && !isAbsoluteUriWithoutFragment(value)) {
      throw new BrokerError("invalid_target", "resource must be an absolute URI without a fragment");
    }
  }
  return [...values];
}

function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

function isAbsoluteUriWithoutFragment(value: string): boolean {
  if (value.includes("#") || !/^[A-Za-z][A-Za-z0-9+.-]*:/.test(value)) return false;
  return URL.canParse(value);
}

function scopes(value: string | undefined): string[] {
  if (value === undefined) return [];
  const tokens = value.split(" ");
  if (tokens.length > MAX_SCOPES || !tokens.every(isScopeToken)) {
    throw new BrokerError("invalid_scope", "scope must be space-separated scope tokens (RFC 6749 §3.3)");
  }
  return [...new Set(tokens)];
}

function requestedLifetime(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[1-9]\d{0,5}$/.test(value) || Number(value) > MAX_REQUESTED_LIFETIME_SECONDS) {
    throw new BrokerError("invalid_request", `requested_lifetime must be whole seconds from 1 to ${MAX_REQUESTED_LIFETIME_SECONDS}`);
  }
  return Number(value);
}

/** The request as policies see it. */
export function requestContext(request: TokenExchangeRequest, clientAddress: string, now: number): RequestContext {
  return {
    audiences: request.audiences,
    resources: request.resources,
    scopes: request.scopes,
    requestedTokenType: request.requestedTokenType,
    requestedLifetimeSeconds: request.requestedLifetimeSeconds,
    clientAddress,
    now,
  };
}
