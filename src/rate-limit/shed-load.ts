import { BrokerError } from "../errors/broker-error.js";
import type { Semaphore } from "../lib/semaphore.js";

/** What the shed counter is labelled with: a closed set. */
export type ShedWork = "token" | "x509_svid";

/** Seconds a shed caller should wait: the queue drains in well under that at the default sizes. */
const SHED_RETRY_AFTER_SECONDS = 1;

/**
 * Runs `work` within the semaphore's bound: at most maxInFlight at once, maxQueued waiting, and
 * every call beyond that refused at once with 503 `temporarily_unavailable` and Retry-After, before
 * anything of the request is verified or claimed (so a shed single-use token can be retried).
 */
export function shedWhenBusy<A extends unknown[], R>(
  work: (...args: A) => Promise<R>,
  semaphore: Semaphore,
  options: { readonly work: ShedWork; readonly onShed?: (work: ShedWork) => void },
): (...args: A) => Promise<R> {
  return async (...args: A): Promise<R> => {
    const permit = semaphore.acquire();
    if (permit === undefined) {
      options.onShed?.(options.work);
      throw new BrokerError("temporarily_unavailable", "the broker is busy; retry shortly", {
        detail: `shed: ${semaphore.maxInFlight} ${options.work} requests in flight and ${semaphore.maxQueued} waiting`,
        retryAfterSeconds: SHED_RETRY_AFTER_SECONDS,
      });
    }
    const release = await permit;
    try {
      return await work(...args);
    } finally {
      release();
    }
  };
}
