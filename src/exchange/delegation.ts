import type { ActValue } from "../credentials/access-token.js";
import { BrokerError } from "../errors.js";
import { MAX_CHAIN_DEPTH } from "../policy/policy-schema.js";
import type { MayAct } from "../policy/types.js";
import type { VerifiedActor } from "./verify-actor.js";

/**
 * RFC 8693 §4.1 `act`: the current actor, and the actor before it nested inside (outermost =
 * current). `iss` is set for an actor proven by an external token; absent for a broker token.
 */
export type ActClaim = ActValue;

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

/**
 * The new `act` (RFC 8693 §4.1): the current actor outermost and, nested inside it, either the
 * actors behind it (the actor token's own chain, when it is a delegated broker token) or the
 * subject token's earlier chain. When both carry a chain there is no single order of "prior
 * actors" that is true of both histories, so the request is refused rather than guessed.
 */
export function nestAct(actor: VerifiedActor, previous: ActClaim | undefined): ActClaim {
  if (actor.chain !== undefined && previous !== undefined) {
    throw new BrokerError("invalid_request", "the subject_token and the actor_token both carry a delegation chain (act): use an actor_token without act", {
      detail: `subject chain of ${chainDepth(previous)} and actor chain of ${chainDepth(actor.chain)} cannot be combined`,
    });
  }
  const inner = actor.chain ?? previous;
  return { ...actor.act, ...(inner ? { act: inner } : {}) };
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
export function checkMayAct(mayAct: MayAct | undefined, actor: Pick<VerifiedActor, "act" | "context">): void {
  if (mayAct === undefined) return;
  const iss = actor.context.identity.iss;
  if (mayAct.sub !== actor.act.sub || (mayAct.iss !== undefined && mayAct.iss !== iss)) {
    throw new BrokerError("unauthorized_client", "the actor is not allowed to act for this subject (may_act)", {
      detail: `may_act names ${mayAct.sub}${mayAct.iss ? ` of ${mayAct.iss}` : ""}; actor is ${actor.act.sub} of ${iss}`,
    });
  }
}
