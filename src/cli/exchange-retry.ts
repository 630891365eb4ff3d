import { ExchangeFailure } from "./exchange-failure.js";

/** How `broker exchange` retries an `unavailable` failure. */
export interface RetryPolicy {
  /** Further attempts after the first (0: none). */
  readonly retries: number;
  /** The wait before retry n (1-based) when the server gave no Retry-After: base × 2^(n-1), ±20 %. */
  readonly baseDelayMs: number;
  /** Longest wait honoured: a Retry-After beyond it ends the retries (the caller learns how long to wait). */
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: 2, baseDelayMs: 1000, maxDelayMs: 30_000 };

export interface RetryDeps {
  readonly sleep: (ms: number) => Promise<void>;
  /** One line per retry, for the job log (never a token). */
  readonly note: (line: string) => void;
  readonly random: () => number;
}

/**
 * Runs `attempt` until it succeeds, fails other than `unavailable`, or the retries are spent.
 * Waits what the server's Retry-After asks (bounded by `maxDelayMs`), else an exponential backoff
 * with jitter, so a fleet of CI jobs retrying together spreads out.
 */
export async function withRetries<T>(attempt: () => Promise<T>, policy: RetryPolicy, deps: RetryDeps): Promise<T> {
  for (let retry = 1; ; retry++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof ExchangeFailure) || error.kind !== "unavailable" || retry > policy.retries) throw error;
      const delayMs = delayBefore(retry, error.retryAfterSeconds, policy, deps.random);
      if (delayMs === undefined) {
        throw new ExchangeFailure(`${error.message}; the broker asks to retry after ${error.retryAfterSeconds} s, longer than the ${policy.maxDelayMs / 1000} s this command waits`, "unavailable", error.retryAfterSeconds);
      }
      deps.note(`${error.message}; retry ${retry} of ${policy.retries} in ${(delayMs / 1000).toFixed(1)} s`);
      await deps.sleep(delayMs);
    }
  }
}

/** The wait before retry `retry`, or undefined when the server asks for longer than the policy waits. */
function delayBefore(retry: number, retryAfter: number | undefined, policy: RetryPolicy, random: () => number): number | undefined {
  if (retryAfter !== undefined) {
    const asked = retryAfter * 1000;
    return asked > policy.maxDelayMs ? undefined : asked;
  }
  const backoff = policy.baseDelayMs * 2 ** (retry - 1) * (0.8 + 0.4 * random());
  return Math.min(backoff, policy.maxDelayMs);
}
