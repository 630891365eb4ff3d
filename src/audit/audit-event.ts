import { BrokerError } from "../errors/broker-error.js";

/**
 * What every decision record (token exchange, X.509-SVID) carries. Credentials appear only as
 * SHA-256 digests; the full reason for a denial lives here, never in the caller's
 * error_description.
 */
interface DecisionAuditFields {
  readonly requestId: string;
  readonly decision: "allow" | "deny";
  /** RFC 6749 error code on denial. */
  readonly error?: string;
  /** Why, in full: which check failed, or why no policy matched. */
  readonly reason?: string;
  readonly issuer?: string;
  readonly subject?: string;
  readonly workloadId?: string;
  readonly policy?: string;
  /** Policies evaluated, in order. */
  readonly evaluated?: readonly string[];
  /**
   * On a policy denial only: what each evaluated policy said, in order, and for a false
   * condition the part of it that failed, as written in the policy. Never a value from the token.
   */
  readonly policyTrace?: readonly PolicyTraceRecord[];
  /** Evaluated policies left out of `policyTrace` by its bound. */
  readonly policyTraceOmitted?: number;
  readonly subjectTokenSha256: string;
  /** The SPIFFE ID of an issued SVID. */
  readonly spiffeId?: string;
  readonly exp?: number;
  readonly clientAddress: string;
}

/** One evaluated policy in a denial's `policyTrace`. */
export interface PolicyTraceRecord {
  readonly policy: string;
  /** condition_false, target_not_granted, scope_not_granted, token_type_not_granted, delegation_not_granted, actor_not_allowed, grant_error. */
  readonly outcome: string;
  /** The first part of the condition (or actor_condition) that was not true: policy source text, bounded. */
  readonly failed?: string;
  /** What that part gave: false, error (e.g. a missing attribute) or not_bool. */
  readonly result?: string;
}

/** One POST /token decision. */
export interface ExchangeAuditEvent extends DecisionAuditFields {
  readonly event: "token_exchange";
  readonly subjectTokenType: string;
  readonly requestedTokenType?: string;
  readonly jti?: string;
  readonly audience?: readonly string[];
  readonly scope?: string;
  /** RFC 8693 §2.1 actor_token_type of a delegation request. */
  readonly actorTokenType?: string;
  readonly actorTokenSha256?: string;
  /** The verified actor (the issued token's outermost `act`). */
  readonly actor?: { readonly sub: string; readonly iss?: string };
  /** The workload the actor is: what blocks, revocations and rate limits were applied to. */
  readonly actorWorkloadId?: string;
  /** Number of actors in the issued token's `act` chain. */
  readonly actChainDepth?: number;
  /** The whole `act` chain of the issued token (RFC 8693 §4.1, outermost = current actor). */
  readonly act?: ActChain;
  /** RFC 7638 thumbprint of the request's DPoP proof key: the issued token's `cnf.jkt` (RFC 9449). Not secret. */
  readonly dpopJkt?: string;
}

/** An `act` claim as recorded: the current actor, the previous one nested inside. */
export interface ActChain {
  readonly sub: string;
  readonly iss?: string;
  readonly act?: ActChain;
}

/** One POST /svid/x509 decision. The CSR appears only as SHA-256. */
export interface SvidAuditEvent extends DecisionAuditFields {
  readonly event: "svid_issuance";
  readonly csrSha256: string;
  /** Lowercase hex certificate serial. */
  readonly serial?: string;
}

/** What an operator did through the admin API (or tried to: see `outcome`). */
export type AdminAction =
  | "authenticate"
  | "revoke_token"
  | "revoke_workload"
  | "block_workload"
  | "unblock_workload"
  | "list_revocations"
  | "list_workloads"
  | "revoke_svid";

/**
 * One admin API call, with who did it and why. Never the bootstrap secret or a token: the actor
 * is the admin token's `sub`, or "bootstrap-admin" for the secret.
 */
export interface AdminAuditEvent {
  readonly event: "admin";
  readonly requestId: string;
  readonly action: AdminAction;
  /** Admin token `sub`, "bootstrap-admin", or "unauthenticated" for a refused call. */
  readonly actor: string;
  readonly reason?: string;
  /** The jti or workload id acted on. */
  readonly target?: string;
  /** done; denied (401/403); failed (bad request, nothing to lift, store down, unexpected). */
  readonly outcome: "done" | "denied" | "failed";
  /** The error code when not done. */
  readonly error?: string;
  /** Full reason of a refusal or failure (never sent to the caller). */
  readonly detail?: string;
  readonly clientAddress: string;
}

/** A holder revoked its own broker token (RFC 7009). */
export interface TokenRevocationAuditEvent {
  readonly event: "token_revocation";
  readonly requestId: string;
  /** The token's `sub`: the holder. */
  readonly actor: string;
  readonly jti: string;
  readonly exp: number;
  readonly tokenSha256: string;
  readonly outcome: "revoked" | "already_revoked";
  readonly clientAddress: string;
}

/**
 * A request refused by the client-address rate limit before its body was read, so it has no
 * decision record of its own (a workload refusal is a token_exchange or svid_issuance deny).
 */
export interface RateLimitAuditEvent {
  readonly event: "rate_limit";
  readonly requestId: string;
  readonly endpoint: "/token" | "/svid/x509";
  readonly limit: "client";
  readonly decision: "deny";
  readonly error: string;
  /** "rate_limited: client limit <setting>". */
  readonly reason: string;
  readonly retryAfterSeconds: number;
  readonly clientAddress: string;
}

export type AuditEvent = ExchangeAuditEvent | SvidAuditEvent | AdminAuditEvent | TokenRevocationAuditEvent | RateLimitAuditEvent;

/** Where decision records go. One implementation writes pino JSON; tests collect them. */
export interface AuditSink {
  record(event: AuditEvent): void;
}

/** The error code and full reason a denial record carries: a BrokerError's, or a bare server_error. */
export function denialOf(error: unknown): { readonly error: string; readonly reason: string } {
  return error instanceof BrokerError
    ? { error: error.code, reason: error.detail ?? error.description }
    : { error: "server_error", reason: "unexpected error" };
}
