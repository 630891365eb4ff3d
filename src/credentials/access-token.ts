import { randomTokenId } from "../lib/token-id.js";
import { epochSeconds, type Clock } from "../lib/clock.js";
import type { ClaimValue, MayAct } from "../protocol/claims.js";
import { ACCESS_TOKEN_TYP } from "../protocol/broker-tokens.js";
import { registeredClaims, signJwt } from "./jwt-signer.js";
import type { SignerSource } from "./signer.js";

/** What one issued access token says. */
export interface AccessTokenSpec {
  /** The workload id; becomes `sub` and `client_id`. */
  readonly subject: string;
  readonly audiences: readonly string[];
  readonly scopes: readonly string[];
  readonly lifetimeSeconds: number;
  readonly extraClaims: Readonly<Record<string, ClaimValue>>;
  /**
   * Latest `exp` allowed (a re-exchanged token never outlives the one it came from).
   * Seconds since the epoch.
   */
  readonly notAfter?: number;
  /** RFC 8693 §4.1 `act`: the current actor, earlier ones nested inside. */
  readonly act?: ActValue;
  /** RFC 8693 §4.4 `may_act`: who may act for this token's subject. */
  readonly mayAct?: MayAct;
  /**
   * Id of the policy whose `delegation` governs acting for this token (`delegation_policy`), so a
   * re-exchange with an actor_token is decided by that policy as it is at that time.
   */
  readonly delegationPolicy?: string;
  /** RFC 9449 §6.1: the thumbprint of the DPoP key the token is bound to (`cnf.jkt`); undefined: a bearer token. */
  readonly dpopJkt?: string;
  /** `jti`s of the broker tokens this one is minted from, oldest first (its family; `authorization/token-family.ts`). */
  readonly lineage?: readonly string[];
  /**
   * The latest workload revocation cutoff the issuance checks read (milliseconds): the token's
   * precise stamp (`iat_ms`) lands strictly after it. Undefined: none was in force.
   */
  readonly issueAfterMs?: number;
}

/** The private claim naming a token's family (see `authorization/token-family.ts`). */
export const LINEAGE_CLAIM = "lineage";

/**
 * The private claim holding the token's precise issuance stamp, milliseconds since the epoch:
 * what the revocation store compares with a workload revocation's cutoff (`revocation-store.ts`).
 * `iat` stays an integer NumericDate (RFC 7519 §2), as relying parties expect; they may ignore
 * this claim. It is the clock's millisecond, moved forward past every revocation cutoff the
 * issuance read, so it can run up to a second ahead of `iat`.
 */
export const ISSUED_AT_MS_CLAIM = "iat_ms";

/** An `act` claim value (RFC 8693 §4.1). */
export interface ActValue {
  readonly sub: string;
  readonly iss?: string;
  readonly act?: ActValue;
}

export interface IssuedToken {
  readonly token: string;
  readonly jti: string;
  readonly issuedAt: number;
  /** The precise issuance stamp (access tokens only: `iat_ms`). */
  readonly issuedAtMs?: number;
  readonly expiresAt: number;
}

export interface AccessTokenMinter {
  mint(spec: AccessTokenSpec): Promise<IssuedToken>;
}

/**
 * Mints RFC 9068 JWT access tokens: `typ: at+jwt`, `kid` in the header, `iss`, `sub`, `aud`,
 * `exp`, `iat`, `nbf`, a random 128-bit `jti`, `client_id` and `scope`, and the private `iat_ms`; for delegation, `act`,
 * `may_act` and `delegation_policy`; for a DPoP-bound token, `cnf.jkt` (RFC 9449 §6.1).
 */
export function createAccessTokenMinter(options: { issuer: string; keys: SignerSource; clock: Clock }): AccessTokenMinter {
  return {
    async mint(spec) {
      const signer = options.keys.activeKey();
      const issuedAt = epochSeconds(options.clock);
      // Strictly after every revocation cutoff the issuance read (the store's order, not the clocks').
      const issuedAtMs = Math.max(options.clock.now(), spec.issueAfterMs === undefined ? 0 : spec.issueAfterMs + 1);
      const expiresAt = Math.min(issuedAt + spec.lifetimeSeconds, spec.notAfter ?? Number.POSITIVE_INFINITY);
      const jti = randomTokenId();
      // Assigned onto registeredClaims' fresh object rather than spread into a new one: the same
      // claims in the same order, without a hidden class made per token (lib/merged.ts).
      const payload = registeredClaims(spec.extraClaims, { iss: options.issuer, sub: spec.subject, audiences: spec.audiences, exp: expiresAt });
      payload.nbf = issuedAt;
      payload.iat = issuedAt;
      payload[ISSUED_AT_MS_CLAIM] = issuedAtMs;
      payload.jti = jti;
      payload.client_id = spec.subject;
      // RFC 9068 §2.2.3.1: scope is a space-separated string, omitted when empty.
      if (spec.scopes.length > 0) payload.scope = spec.scopes.join(" ");
      if (spec.act !== undefined) payload.act = spec.act;
      if (spec.mayAct !== undefined) payload.may_act = spec.mayAct;
      if (spec.delegationPolicy !== undefined) payload.delegation_policy = spec.delegationPolicy;
      if (spec.dpopJkt !== undefined) payload.cnf = { jkt: spec.dpopJkt };
      if (spec.lineage !== undefined && spec.lineage.length > 0) payload[LINEAGE_CLAIM] = [...spec.lineage];
      const token = await signJwt(signer, ACCESS_TOKEN_TYP, payload);
      return { token, jti, issuedAt, issuedAtMs, expiresAt };
    },
  };
}
