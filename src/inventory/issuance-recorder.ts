import { hourOf, minuteOf, type InventoryStore, type IssuanceRecord } from "./inventory-store.js";

/** What became of one issuance's inventory write: stored, failed (store down or slow), or dropped (too much pending). */
export type InventoryWriteOutcome = "ok" | "failed" | "dropped";

/**
 * Records an issued credential in the inventory without the caller waiting: it returns at once,
 * never throws, and never delays or fails the issuance it follows.
 */
export type RecordIssuance = (issuance: IssuanceRecord) => void;

export interface IssuanceRecorderOptions {
  /**
   * Distinct records pending or being written at once; past it an issuance that would need a new
   * one is dropped (and counted), so a slow store cannot pile up memory.
   */
  readonly maxInFlight: number;
  /**
   * How long issuances are summed before they are written: the issuances of one workload under one
   * policy, for the same grant, hour and expiry minute, become one write. 0: written on the event
   * loop's next turn (still summed within that turn).
   */
  readonly coalesceMs?: number;
  readonly onOutcome?: (outcome: InventoryWriteOutcome) => void;
}

/** Distinct records pending or in flight by default. */
export const DEFAULT_INVENTORY_IN_FLIGHT = 1024;

/** A busy workload costs one store write a second, whatever its rate; a crash loses at most this much of the statistics. */
export const DEFAULT_INVENTORY_COALESCE_MS = 1000;

/** A pending record and the issuances it stands for. */
type Pending = { -readonly [K in keyof IssuanceRecord]: IssuanceRecord[K] } & { count: number; firstIssuedAtMs: number };

/**
 * The inventory is statistics: an issuance is summed with the others of its kind and written
 * after the credential is minted, off the response path (never in the request's own turn of the
 * event loop), bounded in memory. A write the store refuses or cannot take in time is lost, and
 * counted once per issuance it stood for.
 */
export function createIssuanceRecorder(store: InventoryStore, options: IssuanceRecorderOptions): RecordIssuance & { drain(): Promise<void> } {
  const pending = new Map<string, Pending>();
  const writes = new Set<Promise<void>>();
  let writing = 0;
  let scheduled: { cancel(): void } | undefined;
  const report = (outcome: InventoryWriteOutcome, times = 1): void => reportTo(options.onOutcome, outcome, times);
  const flush = (): void => {
    scheduled = undefined;
    const batch = [...pending.values()];
    pending.clear();
    writing += batch.length;
    for (const record of batch) {
      let write: Promise<void>;
      try {
        write = store.record(record);
      } catch (error) {
        write = Promise.reject(error);
      }
      const settled: Promise<void> = write.then(
        () => report("ok", record.count),
        () => report("failed", record.count),
      ).finally(() => {
        writing--;
        writes.delete(settled);
      });
      writes.add(settled);
    }
  };
  const coalesceMs = options.coalesceMs ?? 0;
  const recordIssuance: RecordIssuance = (issuance) => {
    const key = keyOf(issuance);
    const same = pending.get(key);
    if (same !== undefined) {
      addTo(same, issuance);
    } else if (pending.size + writing >= options.maxInFlight) {
      report("dropped");
      return;
    } else {
      pending.set(key, { ...issuance, count: 1, firstIssuedAtMs: issuance.issuedAtMs });
    }
    if (scheduled !== undefined) return;
    if (coalesceMs > 0) {
      const timer = setTimeout(flush, coalesceMs).unref();
      scheduled = { cancel: () => clearTimeout(timer) };
    } else {
      const immediate = setImmediate(flush);
      scheduled = { cancel: () => clearImmediate(immediate) };
    }
  };
  /** Writes what is pending now and waits for every write under way (each bounded by the store's deadline): at shutdown. */
  const drain = async (): Promise<void> => {
    scheduled?.cancel();
    flush();
    await Promise.all([...writes]);
  };
  return Object.assign(recordIssuance, { drain });
}

/** One more issuance in a pending record. */
function addTo(record: Pending, issuance: IssuanceRecord): void {
  record.count++;
  record.issuedAtMs = Math.max(record.issuedAtMs, issuance.issuedAtMs);
  record.firstIssuedAtMs = Math.min(record.firstIssuedAtMs, issuance.issuedAtMs);
  record.expiresAt = Math.max(record.expiresAt, issuance.expiresAt);
}

/** Counts `times` outcomes; a counter that throws must not reach the request either. */
function reportTo(onOutcome: IssuanceRecorderOptions["onOutcome"], outcome: InventoryWriteOutcome, times: number): void {
  try {
    for (let index = 0; index < times; index++) onOutcome?.(outcome);
  } catch {
    // Dropped: the inventory is statistics.
  }
}

/** Issuances with the same key are one record: same workload, policy, issuer, grant, hour and expiry minute. */
function keyOf(issuance: IssuanceRecord): string {
  const { workloadId, policyId, issuer, tokenType, audiences, scopes } = issuance;
  return [workloadId, policyId ?? "", issuer ?? "", tokenType, audiences.join(" "), scopes.join(" "), hourOf(issuance.issuedAtMs), minuteOf(issuance.expiresAt * 1000)].join("\n");
}
