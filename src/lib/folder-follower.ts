import { watch, type FSWatcher } from "node:fs";
import type { Log } from "./log.js";

/** How a folder is followed: quiet time after the last file event, and the periodic check. */
export interface FollowOptions {
  /** Quiet time after the last file event before reloading (a rotation writes a file, then the manifest). */
  readonly debounceMs?: number;
  /** Periodic check, for mounts where file events never arrive (network and some container volumes). */
  readonly intervalMs?: number;
}

/**
 * Follows a folder every replica mounts (the signing keys', the CA set's): `reload` runs on file
 * events in it (debounced) and every `intervalMs` regardless, and reloads run one at a time,
 * whoever asks (a file event, the timer, SIGHUP). `what` names the folder in the log lines.
 */
export class FolderFollower<T> {
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private interval: NodeJS.Timeout | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly dir: string,
    private readonly what: string,
    private readonly reloadNow: () => Promise<T>,
    private readonly log: Log,
  ) {}

  /** Runs one reload after those already asked for. */
  reload(): Promise<T> {
    const next = this.queue.then(() => this.reloadNow());
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Starts following (once): file events, debounced, and the periodic check. */
  follow(options: FollowOptions, defaultIntervalMs: number): void {
    if (this.interval !== undefined) return;
    const debounceMs = options.debounceMs ?? 200;
    const schedule = () => {
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => void this.reload(), debounceMs);
      this.debounce.unref();
    };
    try {
      this.watcher = watch(this.dir, schedule);
      this.watcher.on("error", (error) => {
        this.log.warn({ dir: this.dir, reason: error.message }, `${this.what}: file watch failed; relying on the periodic check`);
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (error) {
      this.log.warn({ dir: this.dir, reason: error instanceof Error ? error.message : String(error) }, `${this.what}: cannot watch the folder; relying on the periodic check`);
    }
    this.interval = setInterval(() => void this.reload(), options.intervalMs ?? defaultIntervalMs);
    this.interval.unref();
  }

  /** Stops following. */
  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
    clearTimeout(this.debounce);
    clearInterval(this.interval);
    this.interval = undefined;
  }
}
