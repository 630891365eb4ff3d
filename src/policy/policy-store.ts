import { watch } from "node:fs";
import type { FSWatcher } from "node:fs";
import type { Log } from "../lib/log.js";
import { silentLog } from "../lib/log.js";
import { checkFixtures, FixtureGateError, readFixtureFolder } from "./fixture-gate.js";
import { FIXTURE_FILE_SUFFIX } from "./fixtures.js";
import { loadPolicySet, PolicyLoadError, POLICY_FILE_SUFFIX } from "./load-policies.js";
import type { KnownIssuer, PolicyLoadIssue } from "./load-policies.js";
import type { Narrow, PolicySet } from "./types.js";
import { formatIssue } from "./yaml-source.js";

export interface PolicyStoreOptions {
  readonly dir: string;
  /** The trusted issuers and their profiles (see LoadPolicyOptions). */
  readonly knownIssuers: readonly KnownIssuer[];
  /** SPIFFE trust domain of granted SPIFFE IDs (see LoadPolicyOptions). */
  readonly trustDomain?: string;
  readonly log?: Log;
  /** Quiet time after the last file event before reloading: editors write in several steps. */
  readonly debounceMs?: number;
  /**
   * The fixtures gate (BROKER_POLICY_FIXTURES=required): every set, at open and on each reload,
   * must pass every `*.test.yaml` beside it and have an allow and a deny fixture per policy
   * before it is put in force. `narrow` is the kernel's attenuation without a lifetime cap, as
   * `broker policy test` runs. Undefined: no gate.
   */
  readonly fixtures?: { readonly narrow: Narrow };
}

/** What a reload did. On failure the previous set stays in force. */
export type ReloadResult =
  | { readonly ok: true; readonly version: string; readonly changed: boolean }
  | {
      readonly ok: false;
      readonly version: string;
      /** `load`: the files do not make a valid set; `fixtures`: a valid set its fixtures refused. */
      readonly stage: "load" | "fixtures";
      readonly errors: readonly string[];
      readonly issues: readonly PolicyLoadIssue[];
    };

const DEFAULT_DEBOUNCE_MS = 200;

/** How often a watching store re-reads the folder when no file event arrives: bounds reload lag. */
const POLICY_RELOAD_INTERVAL_MS = 10_000;

/**
 * Holds the policy set in force. A reload builds a complete new set and swaps it in one
 * assignment, so a decision sees either the old set or the new one, never a mix; a broken
 * edit keeps the previous set and says why.
 */
export class PolicyStore {
  private set: PolicySet;
  private readonly log: Log;
  private readonly debounceMs: number;
  private queue: Promise<unknown> = Promise.resolve();
  private watcher: FSWatcher | undefined;
  private interval: NodeJS.Timeout | undefined;
  private lastFailure: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Digest of the fixture files the set in force last passed: unchanged set and fixtures need no new run. */
  private fixturesPassed: string | undefined;
  private readonly listeners = new Set<(result: ReloadResult) => void>();

  private constructor(
    private readonly options: PolicyStoreOptions,
    initial: PolicySet,
    fixturesPassed: string | undefined,
  ) {
    this.set = initial;
    this.fixturesPassed = fixturesPassed;
    this.log = options.log ?? silentLog;
    this.debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
  }

  /**
   * Loads the initial set and, with the gate, runs its fixtures; throws {@link PolicyLoadError}
   * when the set is invalid, or its subclass {@link FixtureGateError} when its fixtures fail or
   * leave a policy uncovered: the broker must not start on either.
   */
  static async open(options: PolicyStoreOptions): Promise<PolicyStore> {
    const initial = await loadPolicySet(options.dir, { knownIssuers: options.knownIssuers, trustDomain: options.trustDomain });
    const gated = await gate(options, initial);
    options.log?.info({ policyVersion: initial.version, policies: initial.policyIds.length, fixtures: gated?.cases ?? "off" }, "policies loaded");
    return new PolicyStore(options, initial, gated?.digest);
  }

  /** The set in force now. Take it once per decision. */
  current(): PolicySet {
    return this.set;
  }

  /** Loads the directory afresh and swaps atomically; reloads run one at a time, in order. */
  reload(): Promise<ReloadResult> {
    const next = this.queue.then(() => this.reloadNow());
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Calls `listener` after every reload (from `reload()` or the watcher). Returns an unsubscribe function. */
  onReload(listener: (result: ReloadResult) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Reloads when a policy file changes (after `debounceMs` of quiet), and every `intervalMs` (10 s) in case no event comes. */
  watch(options: { readonly intervalMs?: number } = {}): void {
    if (this.watcher !== undefined) return;
    // A periodic check as well: file events never arrive on some mounts (network, some volumes).
    this.interval = setInterval(() => void this.reload(), options.intervalMs ?? POLICY_RELOAD_INTERVAL_MS);
    this.interval.unref();
    this.watcher = watch(this.options.dir, (_event, filename) => {
      // filename may be null on some platforms: then reload to be safe.
      if (filename !== null && !filename.endsWith(POLICY_FILE_SUFFIX) && !filename.endsWith(FIXTURE_FILE_SUFFIX)) return;
      this.schedule();
    });
    this.watcher.on("error", (error) => this.log.error({ err: error, dir: this.options.dir }, "policy directory watch failed"));
  }

  /** Stops watching; a pending debounced reload is dropped. */
  close(): void {
    if (this.interval !== undefined) clearInterval(this.interval);
    this.interval = undefined;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.watcher?.close();
    this.watcher = undefined;
  }

  private schedule(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.reload();
    }, this.debounceMs);
  }

  private async reloadNow(): Promise<ReloadResult> {
    let result: ReloadResult;
    try {
      const fresh = await loadPolicySet(this.options.dir, { knownIssuers: this.options.knownIssuers, trustDomain: this.options.trustDomain });
      const changed = fresh.version !== this.set.version;
      // Before the swap: a set its fixtures refuse never decides a request.
      const gated = await gate(this.options, fresh, changed ? undefined : this.fixturesPassed);
      if (changed) this.set = fresh;
      if (gated !== undefined) this.fixturesPassed = gated.digest;
      this.lastFailure = undefined;
      result = { ok: true, version: fresh.version, changed };
      if (changed) this.log.info({ policyVersion: fresh.version, policies: fresh.policyIds.length, fixtures: gated?.cases ?? "off" }, "policies reloaded");
    } catch (error) {
      const issues: readonly PolicyLoadIssue[] =
        error instanceof PolicyLoadError
          ? error.issues
          : [{ file: this.options.dir, policyId: undefined, path: "", message: error instanceof Error ? error.message : String(error) }];
      const errors = issues.map((issue) => formatIssue(issue.file, issue.policyId, issue));
      const stage = error instanceof FixtureGateError ? "fixtures" : "load";
      result = { ok: false, version: this.set.version, stage, errors, issues };
      // The periodic check would repeat the same failure every interval: say it once per change.
      const failure = errors.join("\n");
      if (failure !== this.lastFailure) this.log.error({ policyVersion: this.set.version, stage, errors }, "policy reload failed; keeping the previous set");
      this.lastFailure = failure;
    }
    for (const listener of this.listeners) {
      try {
        listener(result);
      } catch (error) {
        this.log.warn({ err: error }, "policy reload listener failed");
      }
    }
    return result;
  }
}

/**
 * Runs the fixtures gate over `set` when the store has one: the fixture files' digest and case
 * count, or undefined without a gate. When `passed` is the digest the same set already passed
 * with, the files are only read, not run again (the periodic check costs a read, not a run).
 */
async function gate(options: PolicyStoreOptions, set: PolicySet, passed?: string): Promise<{ digest: string; cases: number | "unchanged" } | undefined> {
  if (options.fixtures === undefined) return undefined;
  const folder = await readFixtureFolder(options.dir);
  if (folder.digest === passed) return { digest: folder.digest, cases: "unchanged" };
  return { digest: folder.digest, cases: await checkFixtures(options.dir, set, folder, options.fixtures.narrow) };
}
