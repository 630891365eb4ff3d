import { watch, type FSWatcher } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Clock } from "../../lib/clock.js";
import { silentLog, type Log } from "../../lib/log.js";
import { CA_RELOAD_INTERVAL_MS } from "./ca-rotation.js";
import { CA_SET_FILE } from "./ca-set-document.js";
import { loadCaSet, type CaSet, type CaSource, type TokenCaKeyResolver } from "./ca-set.js";

/** What one reload did. On failure the CAs in force stay. */
export type CaReloadResult = { readonly ok: true; readonly changed: boolean; readonly active: string; readonly published: readonly string[] } | { readonly ok: false; readonly reason: string };

/**
 * The managed CA folder (ca-set.json and the files it names), followed like the signing keys
 * (FileKeyStore): re-read 200 ms after a file event in the folder, every 10 s regardless (mounts
 * where events never arrive), and on `reload()` (SIGHUP). A set swaps in whole; a reload that
 * fails keeps the CAs in force and logs why, once per distinct reason. `onChange` runs after
 * each start and swap (the expiry check and warning).
 */
export class CaSetStore implements CaSource {
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private interval: NodeJS.Timeout | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private lastFailure: string | undefined;

  private constructor(
    private readonly dir: string,
    private set: CaSet,
    private manifestText: string,
    private readonly options: CaSetStoreOptions,
  ) {}

  /** Loads `<dir>/ca-set.json`. Throws with a clear reason when it is unusable. */
  static async load(dir: string, options: CaSetStoreOptions): Promise<CaSetStore> {
    const text = await readFile(join(dir, CA_SET_FILE), "utf8");
    const store = new CaSetStore(dir, await loadCaSet(dir, { ...loadOptions(options), text }), text, options);
    store.announce(false);
    return store;
  }

  /** True when `dir` holds a CA manifest. */
  static async exists(dir: string): Promise<boolean> {
    return readFile(join(dir, CA_SET_FILE)).then(
      () => true,
      () => false,
    );
  }

  current(): CaSet {
    return this.set;
  }

  /** Re-reads the folder and swaps the set in one assignment; reloads run one at a time. */
  reload(): Promise<CaReloadResult> {
    const next = this.queue.then(() => this.reloadNow());
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Reloads on file events in the folder (debounced) and every `intervalMs` regardless. */
  watch(options: { debounceMs?: number; intervalMs?: number } = {}): void {
    if (this.interval !== undefined) return;
    const log = this.options.log ?? silentLog;
    const schedule = () => {
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => void this.reload(), options.debounceMs ?? 200);
      this.debounce.unref();
    };
    try {
      this.watcher = watch(this.dir, schedule);
      this.watcher.on("error", (error) => {
        log.warn({ dir: this.dir, reason: error.message }, "CA folder: file watch failed; relying on the periodic check");
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (error) {
      log.warn({ dir: this.dir, reason: error instanceof Error ? error.message : String(error) }, "CA folder: cannot watch; relying on the periodic check");
    }
    this.interval = setInterval(() => void this.reload(), options.intervalMs ?? CA_RELOAD_INTERVAL_MS);
    this.interval.unref();
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
    clearTimeout(this.debounce);
    clearInterval(this.interval);
    this.interval = undefined;
  }

  private async reloadNow(): Promise<CaReloadResult> {
    const log = this.options.log ?? silentLog;
    try {
      const text = await readFile(join(this.dir, CA_SET_FILE), "utf8");
      if (text === this.manifestText && this.lastFailure === undefined) return describe(this.set, false);
      const next = await loadCaSet(this.dir, { ...loadOptions(this.options), text });
      this.lastFailure = undefined;
      this.manifestText = text;
      // Consumers rebuild what they derive (signing profile, bundle, CRL signers) per set reference:
      // a new object only when the manifest changed.
      this.set = next;
      this.announce(true);
      return describe(next, true);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (reason !== this.lastFailure) log.error({ dir: this.dir, reason, activeCa: this.set.active.name }, "CA set not reloaded: keeping the CAs in force");
      this.lastFailure = reason;
      return { ok: false, reason };
    }
  }

  private announce(reloaded: boolean): void {
    const log = this.options.log ?? silentLog;
    const set = this.set;
    if (reloaded) log.info({ activeCa: set.active.name, publishedCas: set.published.map((each) => each.name), revision: set.revision }, "CA set reloaded");
    for (const skipped of set.skipped) log.warn({ dir: this.dir, skipped }, "published CA left out of the bundle");
    this.options.onChange?.(set);
  }
}

export interface CaSetStoreOptions {
  readonly trustDomain: string;
  readonly clock: Clock;
  readonly log?: Log;
  readonly tokenKey?: TokenCaKeyResolver;
  /** Runs after the first load and after every swap. */
  readonly onChange?: (set: CaSet) => void;
}

const loadOptions = (options: CaSetStoreOptions) => ({ trustDomain: options.trustDomain, now: new Date(options.clock.now()), ...(options.tokenKey ? { tokenKey: options.tokenKey } : {}) });

const describe = (set: CaSet, changed: boolean): CaReloadResult => ({ ok: true, changed, active: set.active.name, published: set.published.map((each) => each.name) });
