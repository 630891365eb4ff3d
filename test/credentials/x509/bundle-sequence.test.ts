/**
 * SPIFFE Trust Domain and Bundle §4.1.1: `spiffe_sequence` MUST change whenever the bundle's
 * contents change. Real keys folder, real `broker keys` steps, real CA files; the e2e proof with two
 * replicas is in test/e2e/key-rotation.test.ts.
 */
import { singleCaSet } from "../../../src/credentials/x509/ca-set.js";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileKeyStore } from "../../../src/credentials/file-key-store.js";
import { activateNextKey, initSigningKeys, prepareNextKey, retireKey } from "../../../src/credentials/key-rotation.js";
import { readKeyset } from "../../../src/credentials/keyset-document.js";
import { spiffeBundle } from "../../../src/credentials/x509/bundle.js";
import { devCaPaths, ensureDevCa, loadDevCa } from "../../../src/credentials/x509/ca-store.js";
import { ManualClock } from "../../../src/lib/clock.js";

const TRUST_DOMAIN = "example.org";
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "bundle-sequence-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("spiffe_sequence", () => {
  it("grows with every publish, activation and retirement of a JWT key, all within one second", async () => {
    const keysDir = join(dir, "signing");
    const clock = new ManualClock(Date.parse("2030-01-01T00:00:00Z"));
    const now = new Date(clock.now());
    await ensureDevCa(dir, TRUST_DOMAIN, now);
    const ca = await loadDevCa(dir, TRUST_DOMAIN, now);
    const first = await initSigningKeys(keysDir, { clock });
    const store = await FileKeyStore.load(keysDir);
    const sequences: number[] = [];
    const kidSets: string[] = [];
    const look = () => {
      const bundle = spiffeBundle(singleCaSet(ca), store.publishedKeys(), store.keysRevision());
      sequences.push(bundle.spiffe_sequence);
      kidSets.push(bundle.keys.map((key) => key.kid ?? "x509").sort().join());
    };
    look();
    await prepareNextKey(keysDir, { clock });
    await store.reload();
    look();
    await activateNextKey(keysDir, { clock, force: true });
    await store.reload();
    look();
    await retireKey(keysDir, first.name, { clock, force: true, maxTokenLifetimeSeconds: 900 });
    await store.reload();
    look();
    // The contents changed at publish and retire (kid sets differ); the sequence went up every time.
    expect(kidSets[1]).not.toBe(kidSets[0]);
    expect(kidSets[3]).not.toBe(kidSets[2]);
    for (let i = 1; i < sequences.length; i += 1) expect(sequences[i]).toBeGreaterThan(sequences[i - 1] as number);
    // The revision is in keyset.json: a replica loading the folder now serves the same sequence.
    expect((await readKeyset(keysDir)).revision).toBe(4);
    const fresh = await FileKeyStore.load(keysDir);
    expect(spiffeBundle(singleCaSet(ca), fresh.publishedKeys(), fresh.keysRevision()).spiffe_sequence).toBe(sequences[3]);
  });

  it("grows when the CA is replaced by a newer one, the keys unchanged", async () => {
    const older = new Date("2030-01-01T00:00:00Z");
    const caDir = join(dir, "ca-change");
    await ensureDevCa(caDir, TRUST_DOMAIN, older);
    const before = spiffeBundle(singleCaSet(await loadDevCa(caDir, TRUST_DOMAIN, older)), [], 7).spiffe_sequence;
    await rm(devCaPaths(caDir).dir, { recursive: true, force: true });
    const newer = new Date(older.getTime() + 1_000);
    await ensureDevCa(caDir, TRUST_DOMAIN, newer);
    expect(spiffeBundle(singleCaSet(await loadDevCa(caDir, TRUST_DOMAIN, newer)), [], 7).spiffe_sequence).toBeGreaterThan(before);
  });

  it("keeps what it was for a keyset written before revisions (continues from the root's notBefore)", async () => {
    const at = new Date("2030-01-01T00:00:00Z");
    const caDir = join(dir, "legacy");
    await ensureDevCa(caDir, TRUST_DOMAIN, at);
    const ca = await loadDevCa(caDir, TRUST_DOMAIN, at);
    expect(spiffeBundle(singleCaSet(ca), [], 0).spiffe_sequence).toBe(Math.floor((at.getTime() - 60_000) / 1000));
  });
});
