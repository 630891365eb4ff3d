const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600 };

/**
 * Parses "90s", "15m", "1h" or a bare number of seconds into whole seconds.
 * Returns undefined when the text is not such a duration.
 */
export function parseDurationSeconds(text: string | number): number | undefined {
  if (typeof text === "number") return Number.isSafeInteger(text) && text >= 0 ? text : undefined;
  const match = /^(\d{1,7})(s|m|h)?$/.exec(text.trim());
  if (!match) return undefined;
  const amount = Number(match[1]);
  const unit = UNIT_SECONDS[match[2] ?? "s"] ?? 1;
  return amount * unit;
}

/**
 * As {@link parseDurationSeconds}, and days too ("30d"): for spans of retention and staleness,
 * never for credential lifetimes (which stay in seconds, minutes and hours).
 */
export function parseLongDurationSeconds(text: string): number | undefined {
  const days = /^(\d{1,5})d$/.exec(text.trim());
  return days ? Number(days[1]) * 86_400 : parseDurationSeconds(text);
}
