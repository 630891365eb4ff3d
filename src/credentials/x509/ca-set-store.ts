import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Clock } from "../../lib/clock.js";
import { FolderFollower, type FollowOptions } from "../../lib/folder-follower.js";
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
  private readonly follower: FolderFollower<CaReloadResult>;
  private lastFailure: string | undefined;

  private constructor(
    private readonly dir: string,
    private set: CaSet,
    private manifestText: string,
    private readonly options: CaSetStoreOptions,
  ) {
    this.follower = new FolderFollower(dir, "CA folder", () => this.reloadNow(), options.log ?? silentLog);
  }

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
    return this.follower.reload();
  }

  /** Reloads on file events in the folder (debounced) and every `intervalMs` regardless. */
  watch(options: FollowOptions = {}): void {
    this.follower.follow(options, CA_RELOAD_INTERVAL_MS);
  }

  close(): void {
    this.follower.close();
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
