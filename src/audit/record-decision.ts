import { denialOf, type AuditEvent, type AuditSink, type ExchangeAuditEvent, type SvidAuditEvent } from "./audit-event.js";
import { factsOf, type DecisionFacts } from "./decision-facts.js";
import { merged } from "../lib/merged.js";

/** How one kind of decision is written down: its record when allowed, and when refused. */
export interface DecisionLog<T> {
  allowed(result: T): AuditEvent;
  /** `facts`: what the refusal carried, what was known when it happened (see `knowing`). */
  refused(error: unknown, facts: DecisionFacts): AuditEvent;
}

/**
 * Runs one decision (a credential request, an admin call) and writes its audit record, allow or
 * deny. A refusal is recorded with the facts it carries and rethrown unchanged.
 */
export async function recordDecision<T>(audit: AuditSink, log: DecisionLog<T>, decide: () => Promise<T>): Promise<T> {
  try {
    const result = await decide();
    audit.record(log.allowed(result));
    return result;
  } catch (error) {
    audit.record(log.refused(error, factsOf(error)));
    throw error;
  }
}

/** The fields of an issuance record that come from the request itself, known before any check. */
export type IssuanceRequestFields<E extends ExchangeAuditEvent | SvidAuditEvent> = Omit<E, "decision" | "error" | keyof DecisionFacts>;

/** What an allowed issuance established, for its record: every fact, through what was issued. */
export interface Decided {
  readonly facts: DecisionFacts;
}

/**
 * The records of a credential decision (POST /token, POST /svid/x509): the request's own fields,
 * then what the checks established (on refusal: what was known when it happened), then the
 * outcome; a denial adds the error code and the full reason (never sent to the caller).
 */
export function issuanceLog<T extends Decided>(request: IssuanceRequestFields<ExchangeAuditEvent> | IssuanceRequestFields<SvidAuditEvent>): DecisionLog<T> {
  return {
    // merged, not spreads: one hidden class per record shape (lib/merged.ts).
    allowed: (result) => merged(request, result.facts, { decision: "allow" as const }),
    refused: (error, facts) => merged(request, facts, { decision: "deny" as const }, denialOf(error)),
  };
}
