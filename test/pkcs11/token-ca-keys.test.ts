/**
 * CA keys generated in and destroyed from a real SoftHSM2 token (token-ca-keys.ts): the URI
 * ca-set.json records names the key by label and CKA_ID, so a key relabelled into a CA's name is
 * refused; a CA step that fails after generating leaves no key behind; --destroy-key never
 * destroys a key a remaining CA still uses.
 */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initCaSet } from "../../src/credentials/x509/ca-rotation.js";
import { loadCaSet } from "../../src/credentials/x509/ca-set.js";
import { ensureDevCa } from "../../src/credentials/x509/ca-store.js";
import { ManualClock } from "../../src/lib/clock.js";
import { parsePkcs11Uri, resolvePkcs11Key } from "../../src/pkcs11/pkcs11-uri.js";
import { openTokenCaKey } from "../../src/pkcs11/token-ca-key.js";
import { pkcs11UriOf, tokenCaKeyDestroyer, tokenCaKeyGenerator } from "../../src/pkcs11/token-ca-keys.js";
import { TokenClient } from "../../src/pkcs11/token-client.js";
import { createSoftHsmToken, useSoftHsmEnv, type SoftHsmToken } from "../support/softhsm.js";

const TRUST_DOMAIN = "token-ca-keys.test";
let token: SoftHsmToken;
let client: TokenClient;
let work: string;
const clock = new ManualClock(Date.now());

beforeAll(async () => {
  token = createSoftHsmToken("ca-keys-test");
  useSoftHsmEnv(token);
  client = await TokenClient.open({ module: token.module, token: token.label, pin: token.pin }, { timeoutMs: 20_000 });
  work = await mkdtemp(join(tmpdir(), "token-ca-keys-"));
}, 60_000);

afterAll(async () => {
  await client?.close();
  await rm(work, { recursive: true, force: true });
  token?.remove();
});

const labels = async () => (await client.call("listKeys")).map((key) => key.label).sort();
const tokenKey = (uri: string) => openTokenCaKey(client, uri);

describe("CA keys in the token", () => {
  it("the recorded URI names the key by label and id: a key relabelled into the CA's name is refused by id", async () => {
    const dir = join(work, "swap");
    const made = await initCaSet(dir, { clock, trustDomain: TRUST_DOMAIN, inToken: tokenCaKeyGenerator(client) });
    const info = await client.call("findKey", made.name);
    expect(info).toBeDefined();
    const uri = pkcs11UriOf(info as NonNullable<typeof info>);
    expect(parsePkcs11Uri(uri)).toEqual({ object: made.name, id: info?.id, token: undefined });
    expect((await loadCaSet(dir, { trustDomain: TRUST_DOMAIN, now: new Date(clock.now()), tokenKey })).active.name).toBe(made.name);

    // Another key takes the CA's label (the real one renamed away): the id no longer matches.
    await client.call("relabel", made.name, "moved-away");
    await client.call("generate", made.name, { kind: "ec", curve: "P-256" });
    await expect(loadCaSet(dir, { trustDomain: TRUST_DOMAIN, now: new Date(clock.now()), tokenKey })).rejects.toThrow(new RegExp(`the key labelled "${made.name}" has id [0-9a-f]{32}, not ${info?.id}`));
    await client.call("destroy", made.name);
    await client.call("relabel", "moved-away", made.name);
    expect((await loadCaSet(dir, { trustDomain: TRUST_DOMAIN, now: new Date(clock.now()), tokenKey })).active.name).toBe(made.name);
  });

  it("init --in-token in a folder holding the development CA makes a new root in the token rather than adopting the file key", async () => {
    const keysDir = join(work, "dev-keys");
    await ensureDevCa(keysDir, TRUST_DOMAIN, new Date(clock.now()));
    const made = await initCaSet(join(keysDir, "ca"), { clock, trustDomain: TRUST_DOMAIN, inToken: tokenCaKeyGenerator(client) });
    expect(made.name).not.toBe("ca");
    const set = await loadCaSet(join(keysDir, "ca"), { trustDomain: TRUST_DOMAIN, now: new Date(clock.now()), tokenKey });
    expect(set.active.ca.key.custody).toBe("pkcs11");
    await client.call("destroy", made.name);
  });

  it("a step that fails after generating destroys the key it made, and writes nothing", async () => {
    const before = await labels();
    const dir = join(work, "failed");
    // A root valid for 0 days is not valid now: the CA is refused after its key was generated.
    await expect(initCaSet(dir, { clock, trustDomain: TRUST_DOMAIN, inToken: tokenCaKeyGenerator(client), root: { days: 0 } })).rejects.toThrow(/not valid now/);
    expect(await labels()).toEqual(before);
    expect(await readdir(dir)).toEqual([]);
  });

  it("--destroy-key refuses a key a remaining CA uses (however its URI names it), and destroys both halves otherwise", async () => {
    const info = await client.call("generate", "retired-ca", { kind: "ec", curve: "P-256" });
    const destroy = tokenCaKeyDestroyer(client);
    const byId = `pkcs11:id=${(info.id.match(/../g) ?? []).map((byte) => `%${byte}`).join("")}`;
    await expect(destroy("pkcs11:object=retired-ca", [byId])).rejects.toThrow(/a CA still in ca-set.json uses the same key/);
    expect(await client.call("findKey", "retired-ca")).toBeDefined();
    await destroy(pkcs11UriOf(info), ["pkcs11:object=some-other-ca"]);
    expect(await client.call("findKey", "retired-ca")).toBeUndefined();
    await expect(resolvePkcs11Key(client, parsePkcs11Uri(byId))).rejects.toThrow(/holds no private key/);
  });
});
