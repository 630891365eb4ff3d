import type { InventoryStore, IssuanceRecord } from "./inventory-store.js";

/** What became of one inventory write: stored, failed (store down or slow), or dropped (too many in flight). */
export type InventoryWriteOutcome = "ok" | "failed" | "dropped";

/**
 * Records an issued credential in the inventory without the caller waiting: it returns at once,
 * never throws, and never delays or fails the issuance it follows.
 */
export type RecordIssuance = (issuance: IssuanceRecord) => void;

export interface IssuanceRecorderOptions {
  /** Writes under way at once; past it a write is dropped (and counted), so a slow store cannot pile up memory. */
  readonly maxInFlight: number;
  readonly onOutcome?: (outcome: InventoryWriteOutcome) => void;
}

/** Writes under way at once by default: a store answering in 1 ms keeps far fewer in flight at any traffic the broker takes. */
export const DEFAULT_INVENTORY_IN_FLIGHT = 1024;

/**
 * The inventory is statistics: a write runs after the credential is minted, off the response path
 * (on the event loop's next turn), bounded in flight. A write the store refuses or cannot take in time is lost, and counted.
 */
export function createIssuanceRecorder(store: InventoryStore, options: IssuanceRecorderOptions): RecordIssuance {
  let inFlight = 0;
  const report = (outcome: InventoryWriteOutcome): void => {
    try {
      options.onOutcome?.(outcome);
    } catch {
      // A counter that throws must not reach the request either.
    }
  };
  return function recordIssuance(issuance) {
    if (inFlight >= options.maxInFlight) {
      report("dropped");
      return;
    }
    inFlight++;
    // Started on the next turn of the event loop, once the answer this issuance belongs to is
    // written: not even the synchronous part of a store call (encoding a command) comes before it.
    setImmediate(() => {
      let write: Promise<void>;
      try {
        write = store.record(issuance);
      } catch (error) {
        write = Promise.reject(error);
      }
      void write.then(
        () => report("ok"),
        () => report("failed"),
      ).finally(() => {
        inFlight--;
      });
    });
  };
}
