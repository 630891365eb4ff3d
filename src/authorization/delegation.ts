import { merged } from "../lib/merged.js";
import { BrokerError } from "../errors/broker-error.js";
import { MAX_CHAIN_DEPTH } from "../policy/policy-schema.js";
import type { MayAct } from "../policy/types.js";
import { chainDepth, type ActClaim } from "./act-claim.js";
import type { VerifiedActor } from "./verify-actor.js";

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
  // merged, not spreads: one hidden class per shape of claim (lib/merged.ts).
  return merged(actor.act, inner ? { act: inner } : undefined);
}

/** Refuses a chain longer than the grant's limit (and the hard cap). */
export function checkChainDepth(depth: number, limit: number): void {
  const max = Math.min(limit, MAX_CHAIN_DEPTH);
  if (depth > max) {
    throw new BrokerError("invalid_request", "delegation chain is too long", { detail: `act chain depth ${depth} exceeds ${max}` });
  }
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
