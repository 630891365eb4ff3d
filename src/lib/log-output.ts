import { writeSync } from "node:fs";

/** How long a write that the descriptor refused for now (EAGAIN, EBUSY) waits before trying again, as sonic-boom does. */
const BUSY_RETRY_MS = 100;

/**
 * The most one write(2) carries when it holds several lines: PIPE_BUF on Linux, the size up to
 * which a write to a pipe is atomic. Several processes writing one pipe (replicas under
 * node:cluster, a shell's `|`) then never interleave inside a line, as with one write per line;
 * a single longer line goes alone, as it always did.
 */
const ATOMIC_WRITE_BYTES = 4096;

/** Writes bytes to a descriptor and says how many it took: fs.writeSync, replaceable in tests. */
export type WriteBytes = (fd: number, bytes: Buffer, offset: number, length: number) => number;

/**
 * A pino destination that writes the lines of one event-loop turn with one write(2): lines are
 * kept until the turn's I/O callbacks have run (setImmediate), then written together,
 * synchronously. A request whose answer must not leave before its audit record awaits
 * {@link written} (request-context.ts), so a record still reaches the descriptor before the
 * answer it records, as with one synchronous write per line, for one write(2) per turn instead of
 * one per line (bench/README.md, "Audit lines batched per event-loop turn").
 *
 * A write that fails (EPIPE, ENOSPC, EBADF, …) rejects the waiting requests, which then answer
 * 500 rather than hang or leave unrecorded; its lines are dropped, and the next turn's lines are
 * tried again. EAGAIN and EBUSY are retried after 100 ms, blocking, as sonic-boom's synchronous
 * mode does: a stalled reader slows the broker down rather than filling its memory.
 */
export class BatchedLogOutput {
  /** Satisfies pino's DestinationStream. */
  readonly writable = true;
  readonly #fd: number;
  readonly #writeBytes: WriteBytes;
  readonly #onFailure: (error: NodeJS.ErrnoException) => void;
  /** The lines of this turn, concatenated (a rope: flattened once, when written). */
  #pending = "";
  /** The end-of-turn write, while one is scheduled. */
  #scheduled: NodeJS.Immediate | undefined;
  /** Created on the first {@link written} of a batch: a batch nobody waits for makes no promise. */
  #waiters: Waiters | undefined;

  constructor(options: { fd: number; writeBytes?: WriteBytes; onFailure?: (error: NodeJS.ErrnoException) => void }) {
    this.#fd = options.fd;
    this.#writeBytes = options.writeBytes ?? writeSync;
    this.#onFailure = options.onFailure ?? (() => undefined);
  }

  /** pino calls this with one complete line (its newline included). */
  write(line: string): void {
    this.#pending += line;
    this.#scheduled ??= setImmediate(this.#flushTurn);
  }

  /**
   * Undefined when every line written so far is on the descriptor; else a promise that settles
   * when they are: resolved once written, rejected with the error if the write failed.
   */
  written(): Promise<void> | undefined {
    if (this.#pending === "") return undefined;
    this.#waiters ??= waiters();
    return this.#waiters.promise;
  }

  /**
   * Writes what is pending now instead of at the end of the turn, for a request that no other
   * can share a write with (the only one in flight: nothing to batch, so no reason to wait for
   * the turn). Undefined once written; a rejected promise when the write failed.
   */
  writtenNow(): Promise<void> | undefined {
    // Nothing left for the end of the turn: one JS entry less (measured ~5 µs a request at c=1).
    if (this.#scheduled !== undefined) clearImmediate(this.#scheduled);
    this.#scheduled = undefined;
    const error = this.#writePending();
    return error === undefined ? undefined : Promise.reject(error);
  }

  /** Writes what is pending now (process exit, SIGTERM's last line): nothing waits for a turn. */
  flushSync(): void {
    this.#writePending();
  }

  /** pino's `logger.flush(cb)`: synchronous here, so the callback runs once the lines are written. */
  flush(callback?: (error?: Error) => void): void {
    this.flushSync();
    callback?.();
  }

  /** Undefined once written, else the error (its waiters rejected with it, its lines dropped). */
  #writePending(): Error | undefined {
    const lines = this.#pending;
    const waiting = this.#waiters;
    this.#pending = "";
    this.#waiters = undefined;
    if (lines === "") return undefined;
    try {
      this.#writeLines(Buffer.from(lines, "utf8"));
    } catch (error) {
      this.#onFailure(error as NodeJS.ErrnoException);
      waiting?.reject(error);
      return error as Error;
    }
    waiting?.resolve();
    return undefined;
  }

  readonly #flushTurn = (): void => {
    this.#scheduled = undefined;
    this.flushSync();
  };

  /** Whole lines, at most ATOMIC_WRITE_BYTES a write (a longer line alone). */
  #writeLines(bytes: Buffer): void {
    let start = 0;
    while (start < bytes.length) {
      let end = bytes.length;
      if (end - start > ATOMIC_WRITE_BYTES) {
        const lastFitting = bytes.lastIndexOf(NEWLINE, start + ATOMIC_WRITE_BYTES - 1);
        end = (lastFitting >= start ? lastFitting : bytes.indexOf(NEWLINE, start)) + 1 || bytes.length;
      }
      this.#writeAll(bytes, start, end);
      start = end;
    }
  }

  /** Every byte of [offset, end), across partial writes; EAGAIN/EBUSY wait and retry, anything else throws. */
  #writeAll(bytes: Buffer, from: number, end: number): void {
    let offset = from;
    while (offset < end) {
      try {
        offset += this.#writeBytes(this.#fd, bytes, offset, end - offset);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== "EAGAIN" && code !== "EBUSY") throw error;
        Atomics.wait(SLEEPER, 0, 0, BUSY_RETRY_MS);
      }
    }
  }
}

const SLEEPER = new Int32Array(new SharedArrayBuffer(4));
const NEWLINE = 0x0a;

interface Waiters {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

function waiters(): Waiters {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((settle, fail) => {
    resolve = settle;
    reject = fail;
  });
  return { promise, resolve, reject };
}
