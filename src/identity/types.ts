import type { JWTPayload } from "jose";
import type { TOKEN_TYPE } from "../protocol/token-types.js";

/** The platform profiles the broker understands; each normalises claims differently. */
export const PROFILE_NAMES = ["github-actions", "gitlab-ci", "kubernetes", "spiffe", "oidc"] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

/**
 * One workload identity, whatever platform proved it. Policies see this as `identity`.
 * Attributes prefer immutable ids (repository_id, project_id, service-account uid) over names.
 */
export interface WorkloadIdentity {
  /** Id of the configured issuer that verified the token (issuers.yaml `id`). */
  readonly issuer: string;
  /** The token's `iss`. */
  readonly iss: string;
  readonly profile: ProfileName;
  /** The token's `sub`. */
  readonly subject: string;
  /** Profile-specific, string-valued attributes (docs/policies.md, "The workload identity policies see"). */
  readonly attributes: Readonly<Record<string, string>>;
}

/** A subject (or actor) token that passed every check. */
export interface VerifiedSubject {
  readonly identity: WorkloadIdentity;
  /** The raw verified claims. */
  readonly claims: Readonly<JWTPayload>;
  /** `exp`, seconds since the epoch (always present and finite). */
  readonly expiresAt: number;
  /** `iat` when the token carried one. */
  readonly issuedAt: number | undefined;
  /** `jti` when the token carried one. */
  readonly tokenId: string | undefined;
  /**
   * Set when the issuer has replay protection on: the key a single-use claim is taken on
   * (issuer id + `jti`, or + a SHA-256 of header and payload when there is no `jti`).
   */
  readonly replayKey: string | undefined;
  /** The header `typ`, normalized as a media type (`JWT` → `application/jwt`); undefined when absent. */
  readonly typ?: string | undefined;
}

/** Token types accepted from outside as proof of identity (RFC 8693 §3). */
export type ExternalTokenType = typeof TOKEN_TYPE.jwt | typeof TOKEN_TYPE.idToken;

/** Which request parameter a token came from; used in error descriptions. */
export type TokenLabel = "subject_token" | "actor_token";

/** Verifies external identity tokens against the configured, trusted issuers. */
export interface SubjectTokenVerifier {
  /**
   * Verifies a token from a configured issuer.
   * Throws BrokerError `invalid_request` (RFC 8693 §2.2.2) when the token is not acceptable,
   * `temporarily_unavailable` when the issuer's keys cannot be had and none are cached.
   * `label` (default "subject_token") names the token in error descriptions. `tokenType` is the
   * type the caller declared (default jwt): an `id_token` must be shaped as an OIDC ID token.
   */
  verify(token: string, label?: TokenLabel, tokenType?: ExternalTokenType): Promise<VerifiedSubject>;
  /** True once every issuer has usable keys (for /readyz). */
  ready(): boolean;
}
