import type { ActValue } from "../credentials/access-token.js";
import type { BrokerTokenClaims, BrokerTokenVerifier } from "../credentials/broker-token-verifier.js";
import { boundJkt } from "../dpop/binding.js";
import { BrokerError } from "../errors/broker-error.js";
import { actOf, mayActOf } from "../authorization/act-claim.js";
import { tokenRef } from "../authorization/token-family.js";
import type { MayAct } from "../policy/types.js";
import { guard } from "../revocation/store-guard.js";
import type { RevocationStatus, TokenRef } from "../revocation/revocation-store.js";

/** RFC 7662 §2.2: an inactive token says nothing more about itself. */
export interface InactiveToken {
  readonly active: false;
}

/** RFC 7662 §2.2 for an active broker access token. */
export interface ActiveToken {
  readonly active: true;
  readonly scope?: string;
  readonly client_id: string;
  readonly sub: string;
  readonly aud: string | string[];
  readonly iss: string;
  readonly exp: number;
  readonly iat: number;
  readonly nbf?: number;
  readonly jti: string;
  /** RFC 9449 §6.2: "DPoP" for a token bound to a DPoP key. */
  readonly token_type: "Bearer" | "DPoP";
  /** RFC 9449 §6.2: the key a DPoP-bound token is bound to; the resource server checks the binding itself. */
  readonly cnf?: { readonly jkt: string };
  /** RFC 8693 §4.1: the delegation chain, outermost = current actor. */
  readonly act?: ActValue;
  /** RFC 8693 §4.4: who may act for the subject. */
  readonly may_act?: MayAct;
}

export type IntrospectionResponse = InactiveToken | ActiveToken;

export type IntrospectToken = (token: string) => Promise<IntrospectionResponse>;

const INACTIVE: InactiveToken = Object.freeze({ active: false });

/**
 * Token introspection (RFC 7662) for resource servers: active only for an access token this
 * broker issued that is intact, alive and not revoked (by `jti` or by workload). Foreign,
 * malformed and expired tokens are simply inactive (§2.2). Fails closed: when the store cannot
 * answer, the caller gets 503, never an `active: true` nobody could vouch for.
 */
export function createIntrospectToken(deps: { readonly brokerTokens: BrokerTokenVerifier; readonly revocations: RevocationStatus }): IntrospectToken {
  return async function introspectToken(token) {
    let claims: BrokerTokenClaims;
    try {
      claims = await deps.brokerTokens.verify(token, "token");
    } catch (error) {
      if (error instanceof BrokerError) return INACTIVE;
      throw error;
    }
    let jkt: string | undefined;
    try {
      jkt = boundJkt(claims);
    } catch (error) {
      // A cnf we never wrote: vouching for the token without its binding would unbind it.
      if (error instanceof BrokerError) return INACTIVE;
      throw error;
    }
    let ref: TokenRef;
    try {
      ref = tokenRef(claims);
    } catch (error) {
      // An act or lineage we never wrote: its family cannot be judged, so nobody vouches for it.
      if (error instanceof BrokerError) return INACTIVE;
      throw error;
    }
    // Revoked by jti, by workload, or as a member of a revoked family (RFC 7009 §2.1).
    if ((await guard(deps.revocations.tokenStatus(ref))) === "revoked") return INACTIVE;
    return {
      active: true,
      ...(claims.scope ? { scope: claims.scope } : {}),
      client_id: claims.client_id,
      sub: claims.sub,
      aud: claims.aud,
      iss: claims.iss,
      exp: claims.exp,
      iat: claims.iat,
      ...(typeof claims.nbf === "number" ? { nbf: claims.nbf } : {}),
      jti: claims.jti,
      token_type: jkt === undefined ? "Bearer" : "DPoP",
      ...(jkt === undefined ? {} : { cnf: { jkt } }),
      // RFC 8693 §4.1, §4.4; RFC 7662 §2.2 allows further members.
      ...delegationClaims(claims),
    };
  };
}

/** `act` and `may_act` of an active token, as issued; a malformed one (never issued) is left out. */
function delegationClaims(claims: BrokerTokenClaims): { act?: ActValue; may_act?: MayAct } {
  const out: { act?: ActValue; may_act?: MayAct } = {};
  try {
    const act = actOf(claims.act);
    if (act !== undefined) out.act = act;
    const mayAct = mayActOf(claims.may_act);
    if (mayAct !== undefined) out.may_act = mayAct;
  } catch (error) {
    if (!(error instanceof BrokerError)) throw error;
  }
  return out;
}
