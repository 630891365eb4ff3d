import type { Clock } from "../../lib/clock.js";
import type { Log } from "../../lib/log.js";
import type { CaSet } from "./ca-set.js";

/** A published CA that expires within the warning horizon. */
export interface ExpiringCa {
  readonly name: string;
  readonly state: string;
  /** Its chain's earliest notAfter, epoch seconds. */
  readonly notAfter: number;
  readonly secondsLeft: number;
}

/** The published CAs expiring within `horizonSeconds` of now, soonest first. */
export function expiringCas(set: CaSet, nowSeconds: number, horizonSeconds: number): ExpiringCa[] {
  return set.published
    .map((each) => ({ name: each.name, state: each.state, notAfter: each.ca.notAfter, secondsLeft: each.ca.notAfter - nowSeconds }))
    .filter((each) => each.secondsLeft <= horizonSeconds)
    .sort((a, b) => a.notAfter - b.notAfter);
}

/**
 * Logs one warning per CA expiring within the horizon (BROKER_CA_EXPIRY_WARNING): at start and on
 * every CA reload. SVIDs never outlive their CA, so an active CA near its end shortens them, and
 * past it nothing is issued: rotate before (docs/operations.md, "Rotate the CA").
 */
export function warnOfCaExpiry(set: CaSet, clock: Clock, horizonSeconds: number, log: Log): void {
  for (const each of expiringCas(set, Math.floor(clock.now() / 1000), horizonSeconds)) {
    log.warn(
      { ca: each.name, state: each.state, notAfter: new Date(each.notAfter * 1000).toISOString(), daysLeft: Math.floor(each.secondsLeft / 86_400) },
      each.state === "active" ? "the active X.509-SVID CA expires soon: SVIDs are cut short at its notAfter; rotate the CA (broker ca rotate)" : "a published X.509-SVID CA expires soon",
    );
  }
}
