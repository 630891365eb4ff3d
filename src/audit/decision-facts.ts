import type { ExchangeAuditEvent, SvidAuditEvent } from "./audit-event.js";
import { merged } from "../lib/merged.js";

/** The fields of a decision record that come from the request itself, known before any check runs. */
type RequestField =
  | "event"
  | "requestId"
  | "decision"
  | "error"
  | "clientAddress"
  | "subjectTokenSha256"
  | "subjectTokenType"
  | "requestedTokenType"
  | "actorTokenType"
  | "actorTokenSha256"
  | "csrSha256";

/**
 * What the checks of one decision (POST /token, POST /svid/x509) established about the caller
 * and the credential: who the subject is, which policies were tried, the actor, what was issued.
 * Each step returns the facts it establishes; a refusal carries the facts known when it happened.
 */
export type DecisionFacts = Partial<Omit<ExchangeAuditEvent, RequestField>> & Partial<Omit<SvidAuditEvent, RequestField>>;

/**
 * The facts each refusal carried, by the error thrown. Keyed by the error object itself (a
 * BrokerError is created per request and per refusal), held weakly so nothing outlives the error,
 * and never written onto the error: what the caller sees is untouched.
 */
const refusalFacts = new WeakMap<object, DecisionFacts>();

/**
 * Runs one step of a decision. When it refuses (throws), the refusal carries `facts`, the facts
 * known when the step began, besides those the step attached itself (those win: they are newer).
 * The error is rethrown as it was.
 *
 * Not an async function: every exchange runs several steps through here, and `async` + `await`
 * cost a promise, a suspended frame and a microtask each. A step that answers a promise gets one
 * rejection handler (nothing more on success); a synchronous answer is passed through resolved.
 */
export function knowing<T>(facts: DecisionFacts, step: () => T | Promise<T>): Promise<T> {
  let answer: T | Promise<T>;
  try {
    answer = step();
  } catch (error) {
    return Promise.reject(withFacts(error, facts));
  }
  if (!isThenable(answer)) return Promise.resolve(answer);
  // Promise.resolve hands a native promise back as it is; any other thenable is adopted.
  return Promise.resolve(answer).catch((error: unknown) => {
    throw withFacts(error, facts);
  });
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function";
}

/** Attaches `facts` to a refusal (facts it already carries win) and answers the same error, for `throw`. */
export function withFacts<E>(error: E, facts: DecisionFacts): E {
  if (typeof error === "object" && error !== null) refusalFacts.set(error, merged(facts, refusalFacts.get(error)));
  return error;
}

/** The facts a refusal carries: none when nothing was known yet, or when it is not an object. */
export function factsOf(error: unknown): DecisionFacts {
  return (typeof error === "object" && error !== null && refusalFacts.get(error)) || {};
}
