import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FileKeyStore } from "../../src/credentials/file-key-store.js";
import { activateNextKey, initSigningKeys, prepareNextKey } from "../../src/credentials/key-rotation.js";
import { readKeyset, writeKeyset } from "../../src/credentials/keyset-document.js";
import { ManualClock } from "../../src/lib/clock.js";
import type { Log } from "../../src/lib/log.js";

/** A Log that keeps what it was told. */
function recordingLog() {
  const lines: { level: string; fields: object; message: string }[] = [];
  const at = (level: string) => (fields: object, message: string) => void lines.push({ level, fields, message });
  const log: Log = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  return { log, lines };
}

async function until(condition: () => boolean, deadlineMs = 5_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met before the deadline");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("FileKeyStore reload", () => {
  let dir: string;
  const clock = new ManualClock(Date.parse("2030-01-01T00:00:00Z"));
  let store: FileKeyStore | undefined;
  beforeEach(async () => {
    dir = join(await mkdtemp(join(tmpdir(), "broker-reload-")), "signing");
    await initSigningKeys(dir, { clock });
  });
  afterEach(async () => {
    store?.close();
    store = undefined;
    await rm(join(dir, ".."), { recursive: true, force: true });
  });

  it("swaps the active key and the published set together, keeping references when nothing changed", async () => {
    const { log, lines } = recordingLog();
    store = await FileKeyStore.load(dir, { log });
    const before = store.publishedKeys();
    const oldKid = store.activeKey().kid;
    expect(await store.reload()).toMatchObject({ ok: true, changed: false });
    expect(store.publishedKeys()).toBe(before);

    const next = await prepareNextKey(dir, { clock });
    expect(await store.reload()).toEqual({ ok: true, changed: true, activeKid: oldKid, publishedKids: [oldKid, next.kid] });
    expect(store.activeKey().kid).toBe(oldKid);
    expect(store.publishedKeys()).not.toBe(before);

    await activateNextKey(dir, { clock, force: true });
    expect(await store.reload()).toMatchObject({ ok: true, changed: true, activeKid: next.kid });
    expect(store.publishedKeys().map((jwk) => jwk.kid)).toEqual([next.kid, oldKid]);
    expect(lines.filter((line) => line.message === "signing keys reloaded")).toHaveLength(2);
    expect(lines.filter((line) => line.level === "warn")).toEqual([]);
  });

  it("keeps the keys in force when the keyset breaks, says why once, and recovers", async () => {
    const { log, lines } = recordingLog();
    store = await FileKeyStore.load(dir, { log });
    const kid = store.activeKey().kid;
    const good = await readKeyset(dir);
    for (const broken of ["{ not json", JSON.stringify({ active: "missing-key", published: [] }), JSON.stringify({ active: "../x" })]) {
      await writeFile(join(dir, "keyset.json"), broken);
      const result = await store.reload();
      expect(result.ok).toBe(false);
      expect(store.activeKey().kid).toBe(kid);
    }
    await store.reload();
    expect(lines.filter((line) => line.level === "error")).toHaveLength(3);
    expect(lines.find((line) => line.level === "error")?.fields).toMatchObject({ reason: expect.stringMatching(/keyset\.json: not JSON/) });
    await writeKeyset(dir, good);
    expect(await store.reload()).toMatchObject({ ok: true, activeKid: kid });
  });

  it("warns when a key starts signing without having been published first", async () => {
    const { log, lines } = recordingLog();
    store = await FileKeyStore.load(dir, { log });
    const next = await prepareNextKey(dir, { clock });
    await writeKeyset(dir, { ...(await readKeyset(dir)), active: next.name, published: [] });
    expect(await store.reload()).toMatchObject({ ok: true, activeKid: next.kid });
    expect(lines.some((line) => line.level === "warn" && /not published before/.test(line.message))).toBe(true);
  });

  it("follows a rotation on a file event", async () => {
    store = await FileKeyStore.load(dir);
    store.watch({ debounceMs: 20, intervalMs: 60_000 });
    const next = await prepareNextKey(dir, { clock });
    await until(() => store?.publishedKeys().some((jwk) => jwk.kid === next.kid) === true);
  });

  it("follows a rotation by the periodic check when no file event arrives", async () => {
    store = await FileKeyStore.load(dir);
    const next = await prepareNextKey(dir, { clock }); // before watch(): no event will report it
    store.watch({ debounceMs: 10_000, intervalMs: 50 });
    await until(() => store?.publishedKeys().some((jwk) => jwk.kid === next.kid) === true);
  });
});
