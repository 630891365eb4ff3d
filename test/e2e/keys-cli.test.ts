/**
 * The `broker keys` CLI, a real process per command: the rotation steps with their exit codes and
 * refusals, and `keys init --ca` (the library functions behind them: credentials/key-rotation.test.ts).
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadCertificateAuthority } from "../../src/credentials/x509/ca-store.js";
import { CLI_ARGS } from "../support/compiled-broker.js";
import { ROOT } from "../support/repo-root.js";

describe("broker keys init / rotate / list", () => {
  it("runs each step, exits 1 on a refusal and never prints key material", async () => {
    const keysDir = await mkdtemp(join(tmpdir(), "broker-rotation-"));
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, [...CLI_ARGS, "keys", ...args, "--dir", keysDir], { cwd: ROOT, encoding: "utf8", env: { PATH: process.env.PATH ?? "" } });
    const init = cli("init");
    expect(init.status, init.stderr).toBe(0);
    expect(init.stdout).toMatch(/^created active key: \S+ \(kid [\w-]{43}, alg ES256\)\n$/);
    expect(cli("init").status).toBe(1);
    expect(cli("rotate", "--prepare").status).toBe(0);
    const early = cli("rotate", "--activate");
    expect(early.status).toBe(1);
    expect(early.stderr).toMatch(/--force overrides/);
    const forced = cli("rotate", "--activate", "--force");
    expect(forced.status).toBe(0);
    expect(forced.stderr).toMatch(/^WARNING: forced:/);
    expect(cli("rotate").stderr).toMatch(/exactly one of/);
    const activateWithAlg = cli("rotate", "--activate", "--alg", "PS256");
    expect(activateWithAlg.status).toBe(1);
    expect(activateWithAlg.stderr).toBe("broker keys: --alg and --rsa-bits choose the key --prepare generates\n");
    const badAlg = cli("rotate", "--prepare", "--alg", "HS256");
    expect(badAlg.status).toBe(1);
    expect(badAlg.stderr).toMatch(/option '--alg <alg>' argument 'HS256' is invalid\. one of ES256, RS256, PS256/);
    expect(cli("rotate", "--prepare", "--alg", "RS256", "--rsa-bits", "1024").stderr).toMatch(/argument '1024' is invalid\. one of 2048, 3072, 4096/);
    const list = cli("list");
    expect(list.stdout).toMatch(/^NAME\s+KID\s+ALG\s+STATE\s+CREATED/);
    expect(list.stdout).toMatch(/active/);
    expect(list.stdout).toMatch(/previous/);
    for (const output of [init, forced, list]) expect(output.stdout + output.stderr).not.toMatch(/PRIVATE KEY/);
    await rm(keysDir, { recursive: true, force: true });
  }, 60_000);
});

describe("broker keys init --ca", () => {
  it("creates a root CA the broker loads as its SVID CA, key mode 0600, checked by openssl", async () => {
    const keysDir = await mkdtemp(join(tmpdir(), "broker-keys-ca-"));
    const init = spawnSync(process.execPath, [...CLI_ARGS, "keys", "init", "--ca", "--trust-domain", "prod.example.com", "--dir", keysDir], {
      cwd: ROOT,
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "" },
    });
    expect(init.status, init.stderr).toBe(0);
    expect(init.stdout).toMatch(/BROKER_CA_CERT=\S+ca-root\/ca\.pem BROKER_CA_KEY=\S+ca-root\/ca\.key BROKER_TRUST_DOMAIN=prod\.example\.com/);
    expect(init.stdout).not.toMatch(/PRIVATE KEY/);
    const certificatePem = await readFile(join(keysDir, "ca-root", "ca.pem"), "utf8");
    const keyPem = await readFile(join(keysDir, "ca-root", "ca.key"), "utf8");
    expect((await stat(join(keysDir, "ca-root", "ca.key"))).mode & 0o777).toBe(0o600);
    const ca = await loadCertificateAuthority({ certificatePem, keyPem, chainPem: undefined, trustDomain: "prod.example.com", now: new Date() });
    expect(ca.roots).toHaveLength(1);
    const text = spawnSync("openssl", ["x509", "-noout", "-text"], { input: certificatePem, encoding: "utf8" }).stdout;
    expect(text).toMatch(/CA:TRUE/);
    expect(text).toMatch(/Certificate Sign, CRL Sign/);
    expect(text).toMatch(/URI:spiffe:\/\/prod\.example\.com/);
    // A second init refuses to overwrite the CA (and the signing key).
    expect(spawnSync(process.execPath, [...CLI_ARGS, "keys", "init", "--ca", "--trust-domain", "prod.example.com", "--dir", keysDir], { cwd: ROOT, encoding: "utf8", env: { PATH: process.env.PATH ?? "" } }).status).toBe(1);
    await rm(keysDir, { recursive: true, force: true });
  });
});

describe("broker keys init --if-missing (the compose init service and the Kubernetes Job run it on every start)", () => {
  it("creates what is missing, keeps what exists byte for byte, and refuses half a CA", async () => {
    const keysDir = await mkdtemp(join(tmpdir(), "broker-keys-if-missing-"));
    const init = () =>
      spawnSync(process.execPath, [...CLI_ARGS, "keys", "init", "--if-missing", "--ca", "--trust-domain", "broker.local", "--dir", keysDir], {
        cwd: ROOT,
        encoding: "utf8",
        env: { PATH: process.env.PATH ?? "" },
      });
    const first = init();
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^created active key: /m);
    expect(first.stdout).toMatch(/^created root CA for broker\.local: /m);
    expect((await stat(join(keysDir, "signing"))).mode & 0o777).toBe(0o700);
    expect((await stat(join(keysDir, "ca-root"))).mode & 0o777).toBe(0o700);
    expect((await stat(join(keysDir, "signing", "keyset.json"))).mode & 0o777).toBe(0o600);
    expect((await stat(join(keysDir, "ca-root", "ca.key"))).mode & 0o777).toBe(0o600);
    const files = ["signing/keyset.json", "ca-root/ca.pem", "ca-root/ca.key"];
    const before = await Promise.all(files.map((file) => readFile(join(keysDir, file), "utf8")));

    const second = init();
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/^signing keys exist, kept: /m);
    expect(second.stdout).toMatch(/^root CA exists, kept: /m);
    expect(await Promise.all(files.map((file) => readFile(join(keysDir, file), "utf8")))).toEqual(before);

    // A CA key without its certificate is not "missing": replacing it would overwrite the key.
    await rm(join(keysDir, "ca-root", "ca.pem"));
    const half = init();
    expect(half.status).toBe(1);
    expect(half.stderr).toMatch(/ca\.key without ca\.pem: refusing to replace it/);
    expect(await readFile(join(keysDir, "ca-root", "ca.key"), "utf8")).toBe(before[2]);
    await rm(keysDir, { recursive: true, force: true });
  }, 60_000);
});
