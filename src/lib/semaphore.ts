/** Gives back one permit. Calling it again does nothing. */
export type Release = () => void;

/**
 * At most `maxInFlight` holders at once and at most `maxQueued` waiting, first come first served.
 * `acquire()` answers undefined when both are full: the caller sheds the work instead of queueing
 * it without limit.
 */
export class Semaphore {
  private inFlight = 0;
  private readonly waiting: ((release: Release) => void)[] = [];

  constructor(
    readonly maxInFlight: number,
    readonly maxQueued: number,
  ) {
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new RangeError("maxInFlight must be a positive integer");
    if (!Number.isInteger(maxQueued) || maxQueued < 0) throw new RangeError("maxQueued must be a non-negative integer");
  }

  /** Holders now. */
  get active(): number {
    return this.inFlight;
  }

  /** Waiters now. */
  get queued(): number {
    return this.waiting.length;
  }

  /** A permit now or once one is released; undefined when the queue is full too. */
  acquire(): Promise<Release> | undefined {
    if (this.inFlight < this.maxInFlight) {
      this.inFlight += 1;
      return Promise.resolve(this.releaser());
    }
    if (this.waiting.length >= this.maxQueued) return undefined;
    return new Promise<Release>((resolve) => this.waiting.push(resolve));
  }

  private releaser(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // The permit passes straight to the next waiter: in-flight stays the same.
      if (next) next(this.releaser());
      else this.inFlight -= 1;
    };
  }
}
