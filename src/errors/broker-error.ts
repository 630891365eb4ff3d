/**
 * The closed set of error codes the broker can return to a caller.
 * Each maps to one RFC 6749 §5.2 / RFC 8693 §2.2.2 / RFC 6750 §3.1 `error` value.
 */
export type BrokerErrorCode =
  | "invalid_request"
  | "invalid_client"
  | "unsupported_grant_type"
  | "unauthorized_client"
  | "invalid_target"
  | "invalid_scope"
  // RFC 6750 §3.1: a bearer-protected endpoint (introspection, admin API) refused the caller.
  | "invalid_token"
  | "insufficient_scope"
  // RFC 9449 §5, §7.1, §8: a DPoP proof failed its checks; a nonce from DPoP-Nonce is required.
  | "invalid_dpop_proof"
  | "use_dpop_nonce"
  // Admin API: the named entry does not exist (e.g. lifting a block that is not there).
  | "not_found"
  | "temporarily_unavailable"
  | "server_error";

/**
 * The one catalog of what a caller is told when a refusal brings no description of its own: one
 * safe sentence per code (it reveals no policy internals, no key material, no reason of a denial
 * that must stay opaque, e.g. why a bearer token failed).
 */
const DEFAULT_DESCRIPTIONS: Readonly<Record<BrokerErrorCode, string>> = {
  invalid_request: "the request is invalid",
  // The broker authenticates no client: the subject_token authenticates the workload.
  invalid_client:
    "client authentication is not supported: the subject_token authenticates the workload (public client); send no Authorization header and no client credentials",
  unsupported_grant_type: "unsupported grant_type",
  unauthorized_client: "the workload is not authorized for this request",
  invalid_target: "the requested audience or resource is not allowed",
  invalid_scope: "the requested scope is not allowed",
  // One description for every reason a bearer token fails, so a caller learns nothing about why.
  invalid_token: "a valid bearer token issued by this broker is required",
  insufficient_scope: "the bearer token lacks the scope this endpoint requires",
  invalid_dpop_proof: "the DPoP proof is not valid",
  use_dpop_nonce: "a DPoP nonce is required: retry with the one in the DPoP-Nonce header",
  not_found: "no such entry",
  temporarily_unavailable: "the broker is temporarily unavailable; retry shortly",
  server_error: "internal error",
};

/**
 * Why a refusal happened, for the few where the code alone does not say all the transport needs
 * (src/http/error-response.ts maps each to its answer). A fact about the refusal, not a status:
 * - `rate_limited`: `temporarily_unavailable` because a rate budget is spent (the caller is
 *   throttled), not because a dependency is down;
 * - `body_too_large`, `unsupported_media_type`: `invalid_request` about the body as a whole,
 *   refused before it was read.
 */
export type BrokerErrorReason = "rate_limited" | "body_too_large" | "unsupported_media_type";

export interface BrokerErrorOptions {
  /** Full reason for the audit record and logs; never sent to the caller. */
  detail?: string;
  cause?: unknown;
  reason?: BrokerErrorReason;
  /** For `temporarily_unavailable`: seconds the caller should wait. */
  retryAfterSeconds?: number;
}

/**
 * An error meant to leave the request. `description` is safe to show the caller: it helps fix
 * the request without revealing policy internals or key material. Omitted, it is the code's
 * entry in DEFAULT_DESCRIPTIONS. Which HTTP status it becomes is for src/http/ to decide.
 */
export class BrokerError extends Error {
  readonly code: BrokerErrorCode;
  readonly description: string;
  readonly detail: string | undefined;
  readonly reason: BrokerErrorReason | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(code: BrokerErrorCode, options?: BrokerErrorOptions);
  constructor(code: BrokerErrorCode, description: string, options?: BrokerErrorOptions);
  constructor(code: BrokerErrorCode, descriptionOrOptions?: string | BrokerErrorOptions, maybeOptions: BrokerErrorOptions = {}) {
    const description = typeof descriptionOrOptions === "string" ? descriptionOrOptions : DEFAULT_DESCRIPTIONS[code];
    const options = typeof descriptionOrOptions === "object" ? descriptionOrOptions : maybeOptions;
    super(`${code}: ${description}`, { cause: options.cause });
    this.name = "BrokerError";
    this.code = code;
    this.description = description;
    this.detail = options.detail;
    this.reason = options.reason;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}
