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

export interface BrokerErrorOptions {
  /** Full reason for the audit record and logs; never sent to the caller. */
  detail?: string;
  cause?: unknown;
  /** Overrides the default HTTP status for the code (e.g. 413, 415). */
  status?: number;
  /** For `temporarily_unavailable`: seconds the caller should wait. */
  retryAfterSeconds?: number;
}

/**
 * An error meant to leave the request. `description` is safe to show the caller:
 * it helps fix the request without revealing policy internals or key material.
 */
export class BrokerError extends Error {
  readonly code: BrokerErrorCode;
  readonly description: string;
  readonly detail: string | undefined;
  readonly status: number | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(code: BrokerErrorCode, description: string, options: BrokerErrorOptions = {}) {
    super(`${code}: ${description}`, { cause: options.cause });
    this.name = "BrokerError";
    this.code = code;
    this.description = description;
    this.detail = options.detail;
    this.status = options.status;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export function isBrokerError(value: unknown): value is BrokerError {
  return value instanceof BrokerError;
}
