import type { ActValue } from "../credentials/access-token.js";
import type { BrokerTokenVerifier } from "../credentials/broker-token-verifier.js";
import { boundJkt, externalBoundJkt } from "../dpop/binding.js";
import { BrokerError } from "../errors.js";
import type { SubjectTokenVerifier } from "../identity/types.js";
import { MAX_CHAIN_DEPTH } from "../policy/policy-schema.js";
import type { MayAct, PrincipalContext } from "../policy/types.js";
import type { RevocationStore } from "../revocation/revocation-store.js";
import { guard } from "../revocation/store-guard.js";
import { checkBrokerToken } from "./revocation-checks.js";
import { TOKEN_TYPE, type SubjectTokenType } from "./token-types.js";

/**
 * RFC 8693 §4.1 `act`: the current actor, and the actor before it nested inside (outermost =
 * current). `iss` is set for an actor proven by an external token; absent for a broker token.
 */
export type ActClaim = ActValue;

/** An actor_token that passed every check a subject token would. */
export interface VerifiedActor {
  /** What policies see as `actor`. */
  readonly context: PrincipalContext;
  /** Who the issued token names as its current actor. */
  readonly act: { readonly sub: string; readonly iss?: string };
  readonly tokenType: SubjectTokenType;
  /** RFC 9449 `cnf.jkt` of a DPoP-bound actor_token (broker or external): the request's proof must use that key. */
  readonly boundJkt?: string;
}

export type VerifyActor = (token: string, type: SubjectTokenType) => Promise<VerifiedActor>;

/** Identity issuer id of an actor proven by a broker access token (`actor.identity.issuer`). */
export const BROKER_PRINCIPAL = "broker";

/**
 * Verifies an actor_token by the rules of a subject token: an external JWT through the trusted
 * issuers (single-use ones claimed once), or an access token of this broker (intact, alive, not
 * revoked, its workload not blocked). Throws BrokerError.
 */
export function createVerifyActor(deps: {
  readonly verifier: SubjectTokenVerifier;
  readonly brokerTokens: BrokerTokenVerifier;
  readonly revocations: RevocationStore;
}): VerifyActor {
  return async (token, type) => {
    if (type === TOKEN_TYPE.accessToken) {
      const claims = await deps.brokerTokens.verify(token, "actor_token");
      await checkBrokerToken(deps.revocations, claims, "actor_token");
      return {
        context: {
          identity: { issuer: BROKER_PRINCIPAL, iss: claims.iss, profile: BROKER_PRINCIPAL, subject: claims.sub, attributes: {} },
          claims,
        },
        act: { sub: claims.sub },
        tokenType: type,
        ...optionalJkt(boundJkt(claims, "actor_token")),
      };
    }
    const actor = await deps.verifier.verify(token, "actor_token");
    // A key-bound external actor token (RFC 7800 cnf): its binding is read before it is claimed,
    // and the request's proof is checked against it by the caller, as for a bound broker token.
    const actorJkt = externalBoundJkt(actor.claims, "actor_token");
    if (actor.replayKey !== undefined && !(await guard(deps.revocations.claimOnce(actor.replayKey, actor.expiresAt)))) {
      throw new BrokerError("invalid_request", "actor_token was already used", { detail: `replay of ${actor.replayKey}` });
    }
    return {
      context: { identity: actor.identity, claims: actor.claims },
      act: { sub: actor.identity.subject, iss: actor.identity.iss },
      tokenType: type,
      ...optionalJkt(actorJkt),
    };
  };
}

/**
 * The `act` claim of a verified broker token, or undefined when it has none. Broker tokens are
 * signed by us, so a malformed one means a bug or a key compromise: refused, never ignored.
 */
export function actOf(value: unknown): ActClaim | undefined {
  if (value === undefined) return undefined;
  const parsed = parseAct(value, 0);
  if (parsed === undefined) throw new BrokerError("invalid_request", "subject_token carries a malformed act claim");
  return parsed;
}

function parseAct(value: unknown, depth: number): ActClaim | undefined {
  if (depth >= MAX_CHAIN_DEPTH || typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  if (typeof record.sub !== "string" || (record.iss !== undefined && typeof record.iss !== "string")) return undefined;
  let inner: ActClaim | undefined;
  if (record.act !== undefined) {
    inner = parseAct(record.act, depth + 1);
    if (inner === undefined) return undefined;
  }
  return { sub: record.sub, ...(record.iss !== undefined ? { iss: record.iss } : {}), ...(inner ? { act: inner } : {}) };
}

/** Number of actors in a chain: 0 without `act`. */
export function chainDepth(act: ActClaim | undefined): number {
  return act === undefined ? 0 : 1 + chainDepth(act.act);
}

/** The new `act`: the current actor outermost, the previous chain inside it. */
export function nestAct(actor: VerifiedActor, previous: ActClaim | undefined): ActClaim {
  return { ...actor.act, ...(previous ? { act: previous } : {}) };
}

/** Refuses a chain longer than the grant's limit (and the hard cap). */
export function checkChainDepth(depth: number, limit: number): void {
  const max = Math.min(limit, MAX_CHAIN_DEPTH);
  if (depth > max) {
    throw new BrokerError("invalid_request", "delegation chain is too long", { detail: `act chain depth ${depth} exceeds ${max}` });
  }
}

/** RFC 8693 §4.4: the `may_act` of a verified broker token, or undefined. */
export function mayActOf(value: unknown): MayAct | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new BrokerError("invalid_request", "subject_token carries a malformed may_act claim");
  }
  const record = value as Record<string, unknown>;
  if (typeof record.sub !== "string" || (record.iss !== undefined && typeof record.iss !== "string")) {
    throw new BrokerError("invalid_request", "subject_token carries a malformed may_act claim");
  }
  return { sub: record.sub, ...(record.iss !== undefined ? { iss: record.iss } : {}) };
}

/** Refuses an actor that the subject token's `may_act` does not name (`sub`, and `iss` when given). */
export function checkMayAct(mayAct: MayAct | undefined, actor: VerifiedActor): void {
  if (mayAct === undefined) return;
  const iss = actor.context.identity.iss;
  if (mayAct.sub !== actor.act.sub || (mayAct.iss !== undefined && mayAct.iss !== iss)) {
    throw new BrokerError("unauthorized_client", "the actor is not allowed to act for this subject (may_act)", {
      detail: `may_act names ${mayAct.sub}${mayAct.iss ? ` of ${mayAct.iss}` : ""}; actor is ${actor.act.sub} of ${iss}`,
    });
  }
}

function optionalJkt(jkt: string | undefined): { boundJkt?: string } {
  return jkt === undefined ? {} : { boundJkt: jkt };
}
