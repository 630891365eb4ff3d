import { rm } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import type { Log } from "../../src/lib/log.js";
import { PolicyLoadError } from "../../src/policy/load-policies.js";
import { PolicyStore } from "../../src/policy/policy-store.js";
import type { ReloadResult } from "../../src/policy/policy-store.js";
import { KNOWN_ISSUERS, policyYaml, request, subject, tempDir, narrow } from "../support/policy.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function recordingLog(): Log & { entries: { level: string; fields: object; message: string }[] } {
  const entries: { level: string; fields: object; message: string }[] = [];
  const at = (level: string) => (fields: object, message: string) => void entries.push({ level, fields, message });
  return { entries, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

async function storeWith(files: Record<string, string>, log: Log = recordingLog()) {
  const temp = await tempDir(files);
  cleanups.push(temp.cleanup);
  const store = await PolicyStore.open({ dir: temp.dir, knownIssuers: KNOWN_ISSUERS, log, debounceMs: 20 });
  cleanups.push(() => store.close());
  return { store, ...temp };
}

/** Resolves with the next reload result matching `accept`, or rejects after a deadline. */
function nextReload(store: PolicyStore, accept: (result: ReloadResult) => boolean, deadlineMs = 5000): Promise<ReloadResult> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`no matching reload within ${deadlineMs}ms`));
    }, deadlineMs);
    const unsubscribe = store.onReload((result) => {
      if (!accept(result)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(result);
    });
  });
}

const allowsWrite = (store: PolicyStore) => store.current().evaluate(subject(), request({ scopes: ["write"] }), narrow).allow;

describe("PolicyStore", () => {
  it("refuses to open on an invalid set", async () => {
    const temp = await tempDir({ "a.policy.yaml": policyYaml({ id: "a", issuer: "nobody" }) });
    cleanups.push(temp.cleanup);
    await expect(PolicyStore.open({ dir: temp.dir, knownIssuers: KNOWN_ISSUERS })).rejects.toBeInstanceOf(PolicyLoadError);
  });

  it("reload() swaps in a valid edit", async () => {
    const { store, write } = await storeWith({ "a.policy.yaml": policyYaml({ id: "a", scopes: ["read"] }) });
    const before = store.current();
    expect(allowsWrite(store)).toBe(false);

    await write("a.policy.yaml", policyYaml({ id: "a", scopes: ["read", "write"] }));
    const result = await store.reload();
    expect(result).toMatchObject({ ok: true, changed: true });
    expect(store.current().version).not.toBe(before.version);
    expect(allowsWrite(store)).toBe(true);
    // A decision holding the old set keeps seeing the old set: the swap replaces, never mutates.
    expect(before.evaluate(subject(), request({ scopes: ["write"] }), narrow).allow).toBe(false);

    expect(await store.reload()).toMatchObject({ ok: true, changed: false });
  });

  it("a broken edit keeps the previous set, logs why and returns the errors", async () => {
    const log = recordingLog();
    const { store, write } = await storeWith({ "a.policy.yaml": policyYaml({ id: "a" }) }, log);
    const before = store.current();

    await write("b.policy.yaml", policyYaml({ id: "b", maxLifetime: "5h" }));
    const result = await store.reload();
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.version).toBe(before.version);
    expect(result.errors).toEqual([expect.stringMatching(/^b\.policy\.yaml \[b\] grant\.max_lifetime: /)]);
    expect(store.current()).toBe(before);
    expect(log.entries).toContainEqual(expect.objectContaining({ level: "error", message: expect.stringMatching(/keeping the previous set/) }));
  });

  it("a deleted directory keeps the previous set", async () => {
    const { store, dir } = await storeWith({ "a.policy.yaml": policyYaml({ id: "a" }) });
    const before = store.current();
    await rm(dir, { recursive: true, force: true });
    const result = await store.reload();
    expect(result.ok).toBe(false);
    expect(store.current()).toBe(before);
  });

  it("watch() reloads after a policy file changes, keeping the last good set on a broken edit", async () => {
    const { store, write } = await storeWith({ "a.policy.yaml": policyYaml({ id: "a", scopes: ["read"] }) });
    store.watch();
    expect(allowsWrite(store)).toBe(false);

    const swapped = nextReload(store, (result) => result.ok && result.changed);
    await write("a.policy.yaml", policyYaml({ id: "a", scopes: ["read", "write"] }));
    await swapped;
    expect(allowsWrite(store)).toBe(true);

    const broken = nextReload(store, (result) => !result.ok);
    const good = store.current();
    await write("a.policy.yaml", "id: a\ncondition: [\n");
    const failure = await broken;
    expect(failure.ok).toBe(false);
    expect(store.current()).toBe(good);

    const fixed = nextReload(store, (result) => result.ok);
    await write("a.policy.yaml", policyYaml({ id: "a", scopes: ["read"] }));
    await fixed;
    expect(allowsWrite(store)).toBe(false);
  });
});

describe("PolicyStore periodic check", () => {
  it("picks up an edit without any file event, and reports a broken edit once", async () => {
    const log = recordingLog();
    const temp = await tempDir({ "a.policy.yaml": policyYaml({ id: "a", maxLifetime: "10m" }) });
    cleanups.push(temp.cleanup);
    // File events are debounced far beyond the test: only the periodic check can reload here.
    const store = await PolicyStore.open({ dir: temp.dir, knownIssuers: KNOWN_ISSUERS, log, debounceMs: 600_000 });
    cleanups.push(() => store.close());
    const { write } = temp;
    store.watch({ intervalMs: 50 });
    await write("a.policy.yaml", policyYaml({ id: "a", maxLifetime: "5m" }));
    await nextReload(store, (result) => result.ok && result.changed);
    await write("a.policy.yaml", "id: [broken");
    let failures = 0;
    await nextReload(store, (result) => !result.ok && ++failures >= 3);
    expect(log.entries.filter((entry) => entry.message.startsWith("policy reload failed"))).toHaveLength(1);
  });
});
