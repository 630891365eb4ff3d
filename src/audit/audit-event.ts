/**
 * One decision record. Credentials appear only as SHA-256 digests; the full reason for a
 * denial lives here, never in the caller's error_description.
 */
export interface ExchangeAuditEvent {
  readonly event: "token_exchange";
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
  /** Policies evaluated, in order (denials). */
  readonly evaluated?: readonly string[];
  readonly subjectTokenType: string;
  readonly subjectTokenSha256: string;
  readonly requestedTokenType?: string;
  readonly jti?: string;
  readonly exp?: number;
  readonly audience?: readonly string[];
  readonly scope?: string;
  readonly clientAddress: string;
}

export type AuditEvent = ExchangeAuditEvent;

/** Where decision records go. One implementation writes pino JSON; tests collect them. */
export interface AuditSink {
  record(event: AuditEvent): void;
}
