import type { Clock } from "../lib/clock.js";

/**
 * The safety rules both rotations share (signing keys, key-rotation.ts; the CA, x509/ca-rotation.ts):
 * a step that would be unsafe now is refused with the wait it needs, unless forced, and a forced
 * step carries what it overrode.
 */

/** A safety check refused the step; `--force` would override it. */
export class RotationRefused extends Error {
  override readonly name = "RotationRefused";
}

/** No warning when `safe`; else refused, or with `force` the warning saying what was overridden. */
export function safetyCheck(options: { readonly force?: boolean }, safe: boolean, problem: string): string[] {
  if (safe) return [];
  if (!options.force) throw new RotationRefused(`${problem} (--force overrides)`);
  return [`forced: ${problem}`];
}

/** Seconds from an ISO timestamp to the clock's now; 0 when the timestamp is missing or unreadable. */
export function secondsSince(timestamp: string | undefined, clock: Clock): number {
  const at = timestamp === undefined ? Number.NaN : Date.parse(timestamp);
  return Number.isFinite(at) ? (clock.now() - at) / 1000 : 0;
}

/** The clock's now as an ISO timestamp: what the manifests record. */
export const isoNow = (clock: Clock): string => new Date(clock.now()).toISOString();
