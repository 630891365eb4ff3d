/** When a supervised process that died is replaced, and when its deaths are a crash loop to stop on. */
export interface RestartBudgetLimits {
  /** This many deaths within {@link windowMs} is a crash loop: stop replacing. */
  readonly maxDeaths: number;
  readonly windowMs: number;
  /** The second death in the window waits this long before its replacement, each later one twice as long. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

/** 5 deaths within 60 s: give up. Replacements wait 0, 250, 500, 1,000 ms. */
export const DEFAULT_RESTART_BUDGET: RestartBudgetLimits = { maxDeaths: 5, windowMs: 60_000, baseDelayMs: 250, maxDelayMs: 5_000 };

/** What to do about one death: replace after a delay, or stop (the deaths counted in the window). */
export type RestartDecision = { readonly replaceAfterMs: number } | { readonly crashLoop: number };

/**
 * Counts deaths in a sliding window. A first death is replaced at once (one crash is not a
 * pattern); further ones back off exponentially, so a process that dies at start does not spin.
 */
export function restartBudget(limits: RestartBudgetLimits = DEFAULT_RESTART_BUDGET): { recordDeath(nowMs: number): RestartDecision } {
  const deaths: number[] = [];
  return {
    recordDeath(nowMs) {
      deaths.push(nowMs);
      while (deaths.length > 0 && (deaths[0] ?? nowMs) <= nowMs - limits.windowMs) deaths.shift();
      if (deaths.length >= limits.maxDeaths) return { crashLoop: deaths.length };
      if (deaths.length <= 1) return { replaceAfterMs: 0 };
      return { replaceAfterMs: Math.min(limits.baseDelayMs * 2 ** (deaths.length - 2), limits.maxDelayMs) };
    },
  };
}
