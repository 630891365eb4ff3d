import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { JWK } from "jose";
import { systemClock } from "../lib/clock.js";
import { FolderFollower, type FollowOptions } from "../lib/folder-follower.js";
import { silentLog, type Log } from "../lib/log.js";
import { fileKeyCustody } from "./file-key-custody.js";
import type { KeyCustody } from "./key-custody.js";
import type { KeyStore } from "./key-store.js";
import { initSigningKeys } from "./key-rotation.js";
import { KEYSET_FILE, parseKeyset } from "./keyset-document.js";
import type { SigningKey } from "./signing-key.js";

export { writeFileAtomic } from "../lib/atomic-file.js";

/** One consistent reading of the keys folder: swapped as a whole, never piecemeal. */
interface KeyState {
  readonly active: SigningKey;
  /** The active key's name in keyset.json (its file, or its label in a token). */
  readonly activeName: string;
  readonly published: readonly Readonly<JWK>[];
  /** keyset.json as read: the periodic check compares it to decide whether to reload. */
  readonly manifestText: string;
  /** When the active key started signing (keyset.json), seconds since the epoch. */
  readonly activeSince: number | undefined;
  /** keyset.json `revision` (0 when absent). */
  readonly revision: number;
}

/** What one reload did. On failure the previous keys stay in force. */
export type KeyReloadResult =
  | { readonly ok: true; readonly changed: boolean; readonly activeKid: string; readonly publishedKids: readonly string[] }
  | { readonly ok: false; readonly reason: string };

/** How the store follows its folder (lib/folder-follower.ts). */
export type KeyWatchOptions = FollowOptions;

/** How often every replica re-checks keyset.json when no file event arrives: bounds rotation lag. */
const KEY_RELOAD_INTERVAL_MS = 10_000;

/**
 * Signing keys from files: keys/signing/keyset.json names the active key and the other published
 * ones; each key is a PKCS#8 PEM `<name>.pem` beside it (mode 0600), or, with a token custody,
 * a key pair labelled `<name>` inside a PKCS#11 token (key-custody.ts). `broker keys` edits the
 * folder; this store reads it, and with {@link watch} re-reads it when keyset.json changes, so
 * every replica follows a rotation without a restart. A reload that fails keeps the keys in force.
 */
export class FileKeyStore implements KeyStore {
  private readonly follower: FolderFollower<KeyReloadResult>;
  private lastFailure: string | undefined;

  private constructor(
    private readonly dir: string,
    private state: KeyState,
    private readonly log: Log,
    private readonly custody: KeyCustody,
    private readonly release: (() => Promise<void>) | undefined,
  ) {
    this.follower = new FolderFollower(dir, "signing keys", () => this.reloadNow(), log);
  }

  /**
   * Loads the keyset in `dir` (keys/signing), its keys held by `custody` (default: PEM files
   * beside it). Throws with every unusable key listed when it is unusable.
   */
  static async load(dir: string, options: { log?: Log; custody?: KeyCustody; release?: () => Promise<void> } = {}): Promise<FileKeyStore> {
    const custody = options.custody ?? fileKeyCustody(dir);
    return new FileKeyStore(dir, await readKeyState(dir, custody), options.log ?? silentLog, custody, options.release);
  }

  /** True when `dir` holds a keyset manifest. */
  static async exists(dir: string): Promise<boolean> {
    try {
      await readFile(join(dir, KEYSET_FILE));
      return true;
    } catch {
      return false;
    }
  }

  /** Generates a fresh P-256 key as the only, active key of a new keyset in `dir` (development). */
  static async generate(dir: string, options: { log?: Log } = {}): Promise<FileKeyStore> {
    await initSigningKeys(dir, { clock: systemClock, development: true });
    return FileKeyStore.load(dir, options);
  }

  activeKey(): SigningKey {
    return this.state.active;
  }

  /** When the active key started signing, if keyset.json records it (seconds since the epoch). */
  activeSince(): number | undefined {
    return this.state.activeSince;
  }

  publishedKeys(): readonly Readonly<JWK>[] {
    return this.state.published;
  }

  keysRevision(): number {
    return this.state.revision;
  }

  /** /readyz: whether the active key can sign now (a token answers; files always can once read). */
  async readiness(): Promise<{ readonly ok: boolean; readonly detail?: string }> {
    if (this.custody.readiness === undefined) return { ok: this.state.published.length > 0 };
    return this.custody.readiness(this.state.activeName);
  }

  /**
   * Re-reads the folder and swaps the active key and the published set in one assignment.
   * Unchanged keyset.json after a good load: nothing to do. Reloads run one at a time.
   */
  reload(): Promise<KeyReloadResult> {
    return this.follower.reload();
  }

  /** Reloads on file events in the folder (debounced) and every `intervalMs` regardless. */
  watch(options: KeyWatchOptions = {}): void {
    this.follower.follow(options, KEY_RELOAD_INTERVAL_MS);
  }

  /** Stops watching (and lets the custody go: a token's session is closed). */
  close(): void {
    void this.release?.();
    this.follower.close();
  }

  private async reloadNow(): Promise<KeyReloadResult> {
    const before = this.state;
    try {
      const text = await readFile(join(this.dir, KEYSET_FILE), "utf8");
      if (text === before.manifestText && this.lastFailure === undefined) return describe(before, false);
      const next = await readKeyState(this.dir, this.custody, text);
      this.lastFailure = undefined;
      const changed = next.active.kid !== before.active.kid || kids(next).join() !== kids(before).join();
      // Keep the old objects when nothing that matters changed: consumers cache per reference.
      // A new revision alone is taken too (with new objects), so that this replica serves the
      // same bundle sequence as one started after the change.
      this.state = changed || next.revision !== before.revision ? next : { ...before, manifestText: next.manifestText };
      if (changed) {
        const wasPublished = kids(before).includes(next.active.kid);
        this.log.info({ activeKid: next.active.kid, publishedKids: kids(next) }, "signing keys reloaded");
        if (!wasPublished) {
          this.log.warn({ activeKid: next.active.kid }, "the new active signing key was not published before it started signing: verifiers with a cached JWKS reject its tokens until they refetch (use broker keys rotate --prepare first)");
        }
      }
      return describe(this.state, changed);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (reason !== this.lastFailure) {
        this.log.error({ dir: this.dir, reason, activeKid: before.active.kid }, "signing keys not reloaded: keeping the keys in force");
      }
      this.lastFailure = reason;
      return { ok: false, reason };
    }
  }
}

const kids = (state: KeyState): string[] => state.published.map((jwk) => jwk.kid ?? "");

const describe = (state: KeyState, changed: boolean): KeyReloadResult => ({ ok: true, changed, activeKid: state.active.kid, publishedKids: kids(state) });

/** Reads keyset.json (or uses `text`, already read) and every key it names; lists every key it cannot use. */
async function readKeyState(dir: string, custody: KeyCustody, text?: string): Promise<KeyState> {
  const manifestPath = join(dir, KEYSET_FILE);
  const manifestText = text ?? (await readFile(manifestPath, "utf8"));
  const keyset = parseKeyset(manifestText, manifestPath);
  const names = [...new Set([keyset.active, ...keyset.published])];
  const opened = await Promise.allSettled(names.map((name) => custody.open(name, keyset.keys?.[name]?.alg)));
  const problems = opened.flatMap((result) => (result.status === "rejected" ? [result.reason instanceof Error ? result.reason.message : String(result.reason)] : []));
  if (problems.length > 0) throw new Error(`${manifestPath}: ${problems.join("; ")}`);
  const keys = opened.map((result) => (result as PromiseFulfilledResult<SigningKey>).value);
  const active = keys[0];
  if (!active) throw new Error(`${manifestPath}: active key missing`);
  const record = keyset.keys?.[keyset.active];
  const since = record?.activated_at ?? record?.created_at;
  return {
    active,
    activeName: keyset.active,
    published: Object.freeze(keys.map((key) => key.publicJwk)),
    manifestText,
    activeSince: since === undefined ? undefined : Math.floor(Date.parse(since) / 1000),
    revision: keyset.revision ?? 0,
  };
}
