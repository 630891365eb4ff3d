import { BrokerError } from "../errors/broker-error.js";
import { StoreUnavailableError } from "./revocation-store.js";

/** Seconds a caller should wait before retrying when the revocation store is down. */
const STORE_RETRY_AFTER_SECONDS = 2;

/** Turns a store outage into `temporarily_unavailable` (503 over HTTP); anything else stays unexpected. */
export async function guard<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof StoreUnavailableError) {
      throw new BrokerError("temporarily_unavailable", "the revocation store is unavailable; retry shortly", {
        detail: error.message,
        cause: error,
        retryAfterSeconds: STORE_RETRY_AFTER_SECONDS,
      });
    }
    throw error;
  }
}
