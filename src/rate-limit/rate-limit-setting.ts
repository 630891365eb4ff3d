import { parseDurationSeconds } from "../lib/durations.js";
import type { RateLimit } from "./rate-limiter.js";

const SETTING = /^(\d{1,9})\/(\d{1,7}[smh]?)(?:,burst=(\d{1,9}))?$/;
/** A period longer than a day is a quota, not a rate limit. */
const MAX_PERIOD_SECONDS = 86_400;

/**
 * Reads a rate-limit setting: "off", or "<count>/<duration>" with an optional ",burst=<n>", e.g.
 * "50/1s,burst=500" (50 a second sustained, up to 500 at once). Without a burst, a whole period's
 * count may come at once. Answers a RateLimit, undefined for "off", or a message saying what is wrong.
 */
export function parseRateLimit(text: string): RateLimit | undefined | { readonly error: string } {
  const trimmed = text.trim();
  if (trimmed === "off") return undefined;
  const match = SETTING.exec(trimmed);
  const periodSeconds = match ? parseDurationSeconds(match[2] ?? "") : undefined;
  if (!match || periodSeconds === undefined) {
    return { error: 'must be "off" or "<count>/<duration>[,burst=<n>]", e.g. "50/1s,burst=500" or "600/1m"' };
  }
  const count = Number(match[1]);
  const burst = match[3] === undefined ? count : Number(match[3]);
  if (count < 1 || burst < 1) return { error: "count and burst must be at least 1" };
  if (periodSeconds < 1 || periodSeconds > MAX_PERIOD_SECONDS) return { error: `the duration must be between 1s and ${MAX_PERIOD_SECONDS}s` };
  return { count, periodSeconds, burst, text: `${count}/${match[2]},burst=${burst}` };
}
