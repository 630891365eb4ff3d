import type { ActValue } from "../credentials/access-token.js";
import { BrokerError } from "../errors/broker-error.js";
import { MAX_CHAIN_DEPTH } from "../policy/policy-schema.js";
import type { MayAct } from "../policy/types.js";

// Reading the RFC 8693 delegation claims (`act`, `may_act`) of verified broker tokens. Kept apart
// from the delegation rules (delegation.ts) so that token families and actor verification can
// read a chain without depending on the rules that build one.

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
