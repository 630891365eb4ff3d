import { hourOf, HOUR_BUCKETS, minuteOf } from "./inventory-store.js";

/*
 * How both stores read a workload's counters: issuances per hour and live credentials per expiry
 * minute, each a map from the hour (or minute) number to a count.
 */

/** The oldest hour still counted (and kept) at `nowMs`: the current hour and the 24 before it. */
export function oldestHour(nowMs: number): number {
  return hourOf(nowMs) - (HOUR_BUCKETS - 1);
}

/** Issuances in the hours still kept at `nowMs`: the last 24 hours, to the whole hour. */
export function issuedInLastDay(hours: Iterable<readonly [number, number]>, nowMs: number): number {
  return sumFrom(hours, oldestHour(nowMs));
}

/** Credentials whose expiry minute is the current one or later: live now, to the minute. */
export function liveAt(minutes: Iterable<readonly [number, number]>, nowMs: number): number {
  return sumFrom(minutes, minuteOf(nowMs));
}

function sumFrom(buckets: Iterable<readonly [number, number]>, first: number): number {
  let total = 0;
  for (const [bucket, count] of buckets) if (bucket >= first) total += count;
  return total;
}
