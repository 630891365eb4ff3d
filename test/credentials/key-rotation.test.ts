import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FileKeyStore } from "../../src/credentials/file-key-store.js";
import {
  activateNextKey,
  initSigningKeys,
  listKeys,
  prepareNextKey,
  PUBLISH_BEFORE_ACTIVATE_SECONDS,
  retireKey,
  RETIRE_MARGIN_SECONDS,
  RotationRefused,
} from "../../src/credentials/key-rotation.js";
import { readKeyset, writeKeyset } from "../../src/credentials/keyset-document.js";
import { ManualClock } from "../../src/lib/clock.js";

const T0 = Date.parse("2030-01-01T00:00:00Z");
const LIFETIME = 900;

describe("broker keys: init → prepare → activate → retire", () => {
  let dir: string;
  let clock: ManualClock;
  beforeEach(async () => {
    dir = join(await mkdtemp(join(tmpdir(), "broker-rotation-")), "signing");
    clock = new ManualClock(T0);
  });
  afterEach(() => rm(join(dir, ".."), { recursive: true, force: true }));

  it("init writes 0600 files in a 0700 folder, records the activation and refuses to overwrite", async () => {
    const first = await initSigningKeys(dir, { clock });
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    for (const file of await readdir(dir)) expect((await stat(join(dir, file))).mode & 0o777, file).toBe(0o600);
    const keyset = await readKeyset(dir);
    expect(keyset).toMatchObject({ active: first.name, published: [] });
    expect(keyset.keys?.[first.name]).toEqual({ kid: first.kid, alg: "ES256", created_at: "2030-01-01T00:00:00.000Z", activated_at: "2030-01-01T00:00:00.000Z" });
    expect((await FileKeyStore.load(dir)).activeKey().kid).toBe(first.kid);
    await expect(initSigningKeys(dir, { clock })).rejects.toThrow(/refusing to overwrite/);
    expect((await readKeyset(dir)).active).toBe(first.name);
  });

  it("runs a whole rotation, each step's keyset loadable, refusing unsafe steps without --force", async () => {
    const first = await initSigningKeys(dir, { clock });
    const next = await prepareNextKey(dir, { clock });
    let store = await FileKeyStore.load(dir);
    expect(store.activeKey().kid).toBe(first.kid);
    expect(store.publishedKeys().map((jwk) => jwk.kid)).toEqual([first.kid, next.kid]);
    await expect(prepareNextKey(dir, { clock })).rejects.toThrow(/already prepared/);

    // Too early: verifiers may still hold a JWKS without the new key.
    clock.advance((PUBLISH_BEFORE_ACTIVATE_SECONDS - 1) * 1000);
    await expect(activateNextKey(dir, { clock })).rejects.toBeInstanceOf(RotationRefused);
    clock.advance(1000);
    expect((await activateNextKey(dir, { clock })).warnings).toEqual([]);
    store = await FileKeyStore.load(dir);
    expect(store.activeKey().kid).toBe(next.kid);
    expect(store.publishedKeys().map((jwk) => jwk.kid).sort()).toEqual([first.kid, next.kid].sort());
    await expect(activateNextKey(dir, { clock })).rejects.toThrow(/no prepared key/);

    await expect(retireKey(dir, next.name, { clock, maxTokenLifetimeSeconds: LIFETIME })).rejects.toThrow(/is the active key/);
    await expect(retireKey(dir, "nope", { clock, maxTokenLifetimeSeconds: LIFETIME })).rejects.toThrow(/not published/);
    clock.advance((LIFETIME + RETIRE_MARGIN_SECONDS - 1) * 1000);
    await expect(retireKey(dir, first.name, { clock, maxTokenLifetimeSeconds: LIFETIME })).rejects.toThrow(/wait 1 s more.*--force/);
    clock.advance(1000);
    expect((await retireKey(dir, first.name, { clock, maxTokenLifetimeSeconds: LIFETIME })).warnings).toEqual([]);
    store = await FileKeyStore.load(dir);
    expect(store.publishedKeys().map((jwk) => jwk.kid)).toEqual([next.kid]);
    expect(await readdir(dir)).not.toContain(`${first.name}.pem`);
    expect(Object.keys((await readKeyset(dir)).keys ?? {})).toEqual([next.name]);
  });

  it("--force overrides a refused step and says what it overrode", async () => {
    const first = await initSigningKeys(dir, { clock });
    await prepareNextKey(dir, { clock });
    const activated = await activateNextKey(dir, { clock, force: true });
    expect(activated.warnings[0]).toMatch(/^forced: key .* was published 0 s ago/);
    const retired = await retireKey(dir, first.name, { clock, force: true, maxTokenLifetimeSeconds: LIFETIME });
    expect(retired.warnings[0]).toMatch(/^forced: key .* stopped signing 0 s ago/);
  });

  it("retires a prepared key that never signed at once, and a legacy key only with --force", async () => {
    const first = await initSigningKeys(dir, { clock });
    const next = await prepareNextKey(dir, { clock });
    expect((await retireKey(dir, next.name, { clock, maxTokenLifetimeSeconds: LIFETIME })).warnings).toEqual([]);
    // A hand-made keyset (the pre-rotation format) says nothing about when a key stopped signing.
    const legacy = await prepareNextKey(dir, { clock });
    await writeKeyset(dir, { active: first.name, published: [legacy.name] });
    await expect(retireKey(dir, legacy.name, { clock, maxTokenLifetimeSeconds: LIFETIME })).rejects.toThrow(/does not say when/);
    expect((await retireKey(dir, legacy.name, { clock, force: true, maxTokenLifetimeSeconds: LIFETIME })).warnings).toHaveLength(1);
  });

  it("list shows names, kids (from the key files) and states", async () => {
    const first = await initSigningKeys(dir, { clock });
    const next = await prepareNextKey(dir, { clock });
    expect(await listKeys(dir)).toEqual([
      expect.objectContaining({ name: first.name, kid: first.kid, state: "active" }),
      expect.objectContaining({ name: next.name, kid: next.kid, state: "next" }),
    ]);
    await activateNextKey(dir, { clock, force: true });
    expect((await listKeys(dir)).map((key) => key.state)).toEqual(["active", "previous"]);
  });

  it("refuses a concurrent step while another holds the lock", async () => {
    await initSigningKeys(dir, { clock });
    const results = await Promise.allSettled([prepareNextKey(dir, { clock }), prepareNextKey(dir, { clock })]);
    expect(results.filter((result) => result.status === "fulfilled")).toHaveLength(1);
    expect(String((results.find((result) => result.status === "rejected") as PromiseRejectedResult).reason)).toMatch(/another keys command|already prepared/);
    expect((await readKeyset(dir)).published).toHaveLength(1);
  });
});

describe("keyset.json compatibility", () => {
  it("reads the pre-rotation format { active, published }", async () => {
    const dir = join(await mkdtemp(join(tmpdir(), "broker-rotation-")), "signing");
    const clock = new ManualClock(T0);
    const key = await initSigningKeys(dir, { clock, development: true });
    expect(key.name).toBe(key.kid);
    await writeFile(join(dir, "keyset.json"), JSON.stringify({ active: key.name, published: [] }));
    const store = await FileKeyStore.load(dir);
    expect(store.activeKey().kid).toBe(key.kid);
    // No revision yet: 0, so the SPIFFE bundle keeps the sequence it had before revisions.
    expect(store.keysRevision()).toBe(0);
    await writeKeyset(dir, { active: key.name, published: [] });
    expect(JSON.parse(await readFile(join(dir, "keyset.json"), "utf8"))).toEqual({ revision: 1, active: key.name, published: [] });
    await rm(join(dir, ".."), { recursive: true, force: true });
  });
});
