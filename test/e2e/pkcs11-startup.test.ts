/**
 * Start-up with BROKER_SIGNING_KEYS=pkcs11 (a real broker process, a real SoftHSM2 token): what
 * the operator must fix is reported at once, every problem of a step in one message, and the
 * PIN never appears in the output.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initSigningKeys } from "../../src/credentials/key-rotation.js";
import { readKeyset, writeKeyset } from "../../src/credentials/keyset-document.js";
import { TokenClient } from "../../src/pkcs11/token-client.js";
import { tokenKeyCustody } from "../../src/pkcs11/token-key-custody.js";
import { prepareBrokerFolder, type BrokerFolder } from "../support/broker-folder.js";
import { runBrokerUntilExit } from "../support/broker-process.js";
import { createSoftHsmToken, useSoftHsmEnv, type SoftHsmToken } from "../support/softhsm.js";

let token: SoftHsmToken;
let folder: BrokerFolder;

beforeAll(async () => {
  token = createSoftHsmToken("startup-test");
  useSoftHsmEnv(token);
  folder = await prepareBrokerFolder("http://127.0.0.1:9", {
    prepareKeys: async (keysDir) => {
      const client = await TokenClient.open({ module: token.module, token: token.label, pin: token.pin });
      try {
        await initSigningKeys(join(keysDir, "signing"), { clock: { now: () => Date.now() }, custody: tokenKeyCustody(client) });
      } finally {
        await client.close();
      }
    },
  });
}, 60_000);

afterAll(async () => {
  await folder?.close();
  token?.remove();
});

const refused = async (env: Record<string, string>, without: readonly string[] = []) => {
  const merged: Record<string, string> = { ...folder.env, ...token.brokerEnv, ...env };
  for (const name of without) delete merged[name];
  const { code, output } = await runBrokerUntilExit(merged);
  expect(code).not.toBe(0);
  const text = output.join("\n");
  expect(text).not.toContain(token.pin);
  return text;
};

describe("BROKER_SIGNING_KEYS=pkcs11 start-up checks", () => {
  it("lists every missing setting at once", async () => {
    const text = await refused({}, ["BROKER_PKCS11_MODULE", "BROKER_PKCS11_TOKEN", "BROKER_PKCS11_PIN_FILE"]);
    expect(text).toContain("BROKER_PKCS11_MODULE: required");
    expect(text).toContain("set exactly one of BROKER_PKCS11_TOKEN (token label) and BROKER_PKCS11_SLOT");
    expect(text).toContain("set exactly one of BROKER_PKCS11_PIN_FILE and BROKER_PKCS11_PIN");
  });

  it("reports a missing module and an unreadable PIN file together", async () => {
    const text = await refused({ BROKER_PKCS11_MODULE: "/nonexistent/libpkcs11.so", BROKER_PKCS11_PIN_FILE: join(token.dir, "no-such-pin") });
    expect(text).toContain("BROKER_PKCS11_PIN_FILE: cannot read");
    expect(text).toContain("BROKER_PKCS11_MODULE: cannot read /nonexistent/libpkcs11.so (ENOENT)");
  });

  it("names the tokens present when the label matches none", async () => {
    expect(await refused({ BROKER_PKCS11_TOKEN: "no-such-token" })).toContain('token \\"no-such-token\\" not found (tokens present: slot');
  });

  it("says the PIN was refused, without the PIN", async () => {
    const wrong = join(token.dir, "wrong-pin");
    await writeFile(wrong, "0000-wrong\n", { mode: 0o600 });
    const text = await refused({ BROKER_PKCS11_PIN_FILE: wrong });
    expect(text).toContain("the PIN was refused (CKR_PIN_INCORRECT)");
    expect(text).not.toContain("0000-wrong");
  });

  it("lists each key the keyset names that the token lacks", async () => {
    const dir = join(folder.keysDir, "signing");
    const keyset = await readKeyset(dir);
    await writeKeyset(dir, { ...keyset, published: [...keyset.published, "key-gone-1", "key-gone-2"] });
    const text = await refused({});
    expect(text).toContain('key \\"key-gone-1\\": no key pair labelled so in token');
    expect(text).toContain('key \\"key-gone-2\\": no key pair labelled so in token');
  });
});
