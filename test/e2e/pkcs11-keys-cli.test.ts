/**
 * `broker keys` with the keys inside a real SoftHSM2 token (BROKER_SIGNING_KEYS=pkcs11 and the
 * BROKER_PKCS11_* variables, as the brokers read them): init and --prepare generate inside the
 * token, list reads the kids from it, --retire destroys the token object, and no PEM or private
 * key ever appears.
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readKeyset } from "../../src/credentials/keyset-document.js";
import { TokenClient } from "../../src/pkcs11/token-client.js";
import { CLI_ARGS } from "../support/compiled-broker.js";
import { ROOT } from "../support/repo-root.js";
import { createSoftHsmToken, useSoftHsmEnv, type SoftHsmToken } from "../support/softhsm.js";

let token: SoftHsmToken;
let keysDir: string;

beforeAll(async () => {
  token = createSoftHsmToken("cli-test");
  useSoftHsmEnv(token);
  keysDir = await mkdtemp(join(tmpdir(), "broker-pkcs11-keys-"));
});

afterAll(async () => {
  await rm(keysDir, { recursive: true, force: true });
  token?.remove();
});

const cli = (...args: string[]) =>
  spawnSync(process.execPath, [...CLI_ARGS, "keys", ...args, "--dir", keysDir], { cwd: ROOT, encoding: "utf8", env: { PATH: process.env.PATH ?? "", ...token.brokerEnv } });

describe("broker keys with BROKER_SIGNING_KEYS=pkcs11", () => {
  it("init, list, rotate --prepare/--activate/--retire: keys generated and destroyed inside the token, none exported", async () => {
    const init = cli("init");
    expect(init.status, init.stderr).toBe(0);
    expect(init.stdout).toMatch(/^created active key: \S+ \(kid [\w-]{43}, alg ES256\)\n$/);
    const signing = join(keysDir, "signing");
    const first = (await readKeyset(signing)).active;
    const prepare = cli("rotate", "--prepare");
    expect(prepare.status, prepare.stderr).toBe(0);
    expect(cli("rotate", "--activate", "--force").status).toBe(0);
    const list = cli("list");
    expect(list.status, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^NAME\s+KID\s+ALG\s+STATE/);
    expect(list.stdout).not.toContain("missing");
    const client = await TokenClient.open({ module: token.module, token: token.label, pin: token.pin });
    try {
      const keyset = await readKeyset(signing);
      const inToken = await client.call("listKeys");
      expect(inToken.map((key) => key.label).sort()).toEqual([first, keyset.active].sort());
      for (const key of inToken) expect(await client.call("attributes", key.label)).toMatchObject({ sensitive: true, extractable: false, valueReadable: false });
      const retire = cli("rotate", "--retire", first, "--force");
      expect(retire.status, retire.stderr).toBe(0);
      expect((await client.call("listKeys")).map((key) => key.label)).toEqual([keyset.active]);
      // A key the keyset does not name (another tool's, a crashed create's leftover) is listed as such.
      await client.call("generate", "pending-leftover", { kind: "ec", curve: "P-256" });
      const unlisted = cli("list");
      expect(unlisted.stdout).toMatch(/^pending-leftover\s+[\w-]{43}\s+\?\s+unlisted/m);
      expect(unlisted.stdout).toMatch(new RegExp(`^${keyset.active}\\s+[\\w-]{43}\\s+ES256\\s+active`, "m"));
    } finally {
      await client.close();
    }
    expect((await readdir(signing)).filter((name) => name.endsWith(".pem"))).toEqual([]);
    for (const output of [init, prepare, list]) expect(output.stdout + output.stderr).not.toMatch(/PRIVATE KEY|1234-test-pin/);
  }, 60_000);

  it("says what is wrong with the token settings", () => {
    const res = spawnSync(process.execPath, [...CLI_ARGS, "keys", "list", "--custody", "pkcs11", "--dir", keysDir], { cwd: ROOT, encoding: "utf8", env: { PATH: process.env.PATH ?? "" } });
    expect(res.status).toBe(1);
    expect(res.stderr).toContain("BROKER_PKCS11_MODULE: required");
  });
});
