/**
 * `broker ca` with the CA key inside a real SoftHSM2 token, through the compiled CLI and the
 * BROKER_PKCS11_* variables the brokers read: `--in-token` generates the key there (sensitive,
 * never extractable), no key file reaches the CA folder, and everything the CA signs (its root,
 * an SVID, a CRL, a certificate request) is checked by the openssl command line. The SVID and CRL
 * are signed as a broker signs them: the CA loaded from the folder by loadCaSet, its key resolved
 * through the token.
 */
import { spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CA_SET_FILE, readCaSet } from "../../src/credentials/x509/ca-set-document.js";
import { loadCaSet } from "../../src/credentials/x509/ca-set.js";
import { signCrl } from "../../src/credentials/x509/crl.js";
import { pemOf } from "../../src/credentials/x509/pem.js";
import { signSvid } from "../../src/credentials/x509/sign-svid.js";
import { svidSigningProfile } from "../../src/credentials/x509/svid-signing-profile.js";
import { svidTemplate } from "../../src/credentials/x509/svid-template.js";
import { openTokenCaKey } from "../../src/pkcs11/token-ca-key.js";
import { TokenClient } from "../../src/pkcs11/token-client.js";
import { CLI_ARGS } from "../support/compiled-broker.js";
import { ROOT } from "../support/repo-root.js";
import { createSoftHsmToken, useSoftHsmEnv, type SoftHsmToken } from "../support/softhsm.js";
import { openssl } from "../support/svid-harness.js";

const TRUST_DOMAIN = "hsm-ca.test";
/** The URI ca-set.json records for a key the CLI generated: the label and the 16-byte CKA_ID. */
const GENERATED_URI = /^pkcs11:object=(ca-[0-9TZ]+-[0-9a-f]{8});id=(?:%[0-9a-f]{2}){16}$/;

/** The CA a step's output names. */
const name = (output: { stdout: string }) => /: (ca-\S+) \(key id/.exec(output.stdout)?.[1] ?? "";

let token: SoftHsmToken;
let client: TokenClient;
let work: string;

beforeAll(async () => {
  token = createSoftHsmToken("ca-cli-test");
  useSoftHsmEnv(token);
  work = await mkdtemp(join(tmpdir(), "broker-pkcs11-ca-"));
  client = await TokenClient.open({ module: token.module, token: token.label, pin: token.pin }, { timeoutMs: 20_000 });
}, 60_000);

afterAll(async () => {
  await client?.close();
  await rm(work, { recursive: true, force: true });
  token?.remove();
});

function ca(env: Readonly<Record<string, string>>, ...args: string[]) {
  return spawnSync(process.execPath, [...CLI_ARGS, "ca", ...args, "--trust-domain", TRUST_DOMAIN], { cwd: ROOT, encoding: "utf8", env: { PATH: process.env.PATH ?? "", ...env }, timeout: 60_000 });
}
const inToken = (...args: string[]) => ca(token.brokerEnv, ...args);

async function tokenLabels(): Promise<string[]> {
  return (await client.call("listKeys")).map((key) => key.label).sort();
}

/** An SVID and a CRL revoking it, signed as the broker signs them: the folder's active CA, its key through the token. */
async function signWithFolderCa(dir: string, out: string): Promise<{ root: string; svid: string; crl: string }> {
  const now = new Date();
  const set = await loadCaSet(dir, { trustDomain: TRUST_DOMAIN, now, tokenKey: (uri) => openTokenCaKey(client, uri) });
  const authority = set.active.ca;
  expect(authority.key.custody).toBe("pkcs11");
  const spki = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "der", type: "spki" });
  const template = svidTemplate({ spiffeId: `spiffe://${TRUST_DOMAIN}/w`, dnsNames: [], keyType: "ec", now: Math.floor(now.getTime() / 1000), lifetimeSeconds: 600, caNotAfter: authority.notAfter });
  const svid = await signSvid(svidSigningProfile(authority), template, spki);
  const crl = await signCrl(authority, [{ serial: template.serial, revokedAt: Math.floor(now.getTime() / 1000) }], now.getTime(), 300);
  const root = join(out, "root.pem");
  await writeFile(root, authority.roots.map((each) => each.toString("pem")).join("\n"));
  await writeFile(join(out, "svid.pem"), pemOf("CERTIFICATE", svid));
  await writeFile(join(out, "crl.pem"), pemOf("X509 CRL", Buffer.from(crl.rawData)));
  return { root, svid: join(out, "svid.pem"), crl: join(out, "crl.pem") };
}

describe("broker ca --in-token (SoftHSM2)", () => {
  it("init --in-token: the key is generated in the token, never in the folder; root, SVID and CRL verify with openssl", async () => {
    const dir = join(work, "init");
    const init = inToken("init", "--in-token", "--dir", dir);
    expect(init.status, init.stderr).toBe(0);
    expect(init.stdout).toMatch(/^initialised \(active\): (ca-\S+) \(key id [0-9a-f]{40}, expires /);
    const document = await readCaSet(dir);
    const record = document.cas[document.active];
    const label = GENERATED_URI.exec(record?.key ?? "")?.[1];
    expect(label, record?.key).toBe(document.active);
    expect((await readdir(dir)).sort()).toEqual([`${document.active}.pem`, CA_SET_FILE]);
    expect(await tokenLabels()).toEqual([label]);
    expect(await client.call("attributes", label ?? "")).toMatchObject({ sensitive: true, extractable: false, alwaysSensitive: true, neverExtractable: true, token: true, private: true, valueReadable: false });
    const info = await client.call("findKey", label ?? "");
    expect(record?.key).toContain(`;id=%${info?.id.match(/../g)?.join("%")}`);

    const files = await signWithFolderCa(dir, work);
    const rootCheck = await openssl(["verify", "-check_ss_sig", "-CAfile", files.root, files.root]);
    expect(rootCheck.stdout, rootCheck.stderr).toContain(": OK");
    const svidCheck = await openssl(["verify", "-CAfile", files.root, files.svid]);
    expect(svidCheck.stdout, svidCheck.stderr).toContain(`${files.svid}: OK`);
    const crlCheck = await openssl(["crl", "-in", files.crl, "-CAfile", files.root, "-noout"]);
    expect(crlCheck.stdout + crlCheck.stderr).toContain("verify OK");
    const revoked = await openssl(["verify", "-crl_check", "-CAfile", files.root, "-CRLfile", files.crl, files.svid]);
    expect(revoked.code).not.toBe(0);
    expect(revoked.stdout + revoked.stderr).toMatch(/certificate revoked/);
    for (const output of [init]) expect(output.stdout + output.stderr).not.toMatch(/PRIVATE KEY|1234-test-pin/);
  }, 60_000);

  it("rotate --prepare --in-token (P-384), --activate, list, and --retire: the key kept by default, destroyed with --destroy-key", async () => {
    const dir = join(work, "rotate");
        const first = inToken("init", "--in-token", "--dir", dir);
    expect(first.status, first.stderr).toBe(0);
    const prepare = inToken("rotate", "--prepare", "--in-token", "--key-type", "P-384", "--dir", dir);
    expect(prepare.status, prepare.stderr).toBe(0);
    const [a, b] = [name(first), name(prepare)];
    expect(inToken("rotate", "--activate", "--force", "--dir", dir).status).toBe(0);
    const list = inToken("list", "--dir", dir);
    expect(list.status, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/KEY\s+CREATED/);
    expect(list.stdout).toMatch(new RegExp(`^${b}\\s+active\\s+[0-9a-f]{16}\\s+\\S+\\s+pkcs11:object=${b}\\s`, "m"));
    expect(list.stdout).toMatch(new RegExp(`^${a}\\s+previous\\s+[0-9a-f]{16}\\s+\\S+\\s+pkcs11:object=${a}\\s`, "m"));
    const json = JSON.parse(inToken("list", "--json", "--dir", dir).stdout) as { name: string; key: string }[];
    for (const each of json) expect(each.key).toMatch(GENERATED_URI);
    expect((await client.call("findKey", b))?.publicJwk).toMatchObject({ kty: "EC", crv: "P-384" });
    expect((await readdir(dir)).filter((file) => file.endsWith(".key"))).toEqual([]);

    const keep = inToken("rotate", "--retire", a, "--force", "--dir", dir);
    expect(keep.status, keep.stderr).toBe(0);
    expect(keep.stderr).toContain(`its key stays in the token (pkcs11:object=${a};id=`);
    expect(await client.call("findKey", a)).toBeDefined();

    const next = inToken("rotate", "--prepare", "--in-token", "--dir", dir);
    const c = name(next);
    expect(inToken("rotate", "--activate", "--force", "--dir", dir).status).toBe(0);
    const destroy = inToken("rotate", "--retire", b, "--force", "--destroy-key", "--dir", dir);
    expect(destroy.status, destroy.stderr).toBe(0);
    expect(destroy.stdout).toContain(`its key was destroyed in the token (pkcs11:object=${b};id=`);
    expect(await client.call("findKey", b)).toBeUndefined();
    expect(await client.call("findKey", c)).toBeDefined();
    const files = await signWithFolderCa(dir, work);
    expect((await openssl(["verify", "-CAfile", files.root, files.svid])).stdout).toContain(": OK");
  }, 120_000);

  it("request --in-token writes only the CSR (openssl req -verify OK); the PKI's signed intermediate comes back with --key pkcs11:…", async () => {
    const out = join(work, "request");
    const request = inToken("request", "--in-token", "--out", out);
    expect(request.status, request.stderr).toBe(0);
    const files = await readdir(out);
    expect(files).toHaveLength(1);
    const csr = join(out, files[0] ?? "");
    expect(csr).toMatch(/ca-request-[0-9TZ]+\.csr$/);
    const verified = await openssl(["req", "-in", csr, "-verify", "-noout"]);
    expect(verified.stdout + verified.stderr).toMatch(/verify OK/);
    const uri = /--key '(pkcs11:[^']+)'/.exec(request.stdout)?.[1] ?? "";
    expect(uri).toMatch(/^pkcs11:object=ca-request-[0-9TZ]+;id=(%[0-9a-f]{2}){16}$/);
    expect(await client.call("attributes", /object=([^;]+)/.exec(uri)?.[1] ?? "")).toMatchObject({ sensitive: true, extractable: false, valueReadable: false });

    // The operator's PKI: an openssl root signs the request as a CA.
    const pki = (...args: string[]) => openssl(args, out);
    expect((await pki("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "up.key", "-subj", "/O=upstream/CN=root", "-days", "30", "-out", "up.pem")).code).toBe(0);
    const signed = await pki("x509", "-req", "-in", csr, "-CA", "up.pem", "-CAkey", "up.key", "-CAcreateserial", "-days", "10", "-copy_extensions", "copyall", "-out", "int.pem");
    expect(signed.code, signed.stderr).toBe(0);
    const dir = join(work, "imported");
    const init = inToken("init", "--certificate", join(out, "int.pem"), "--key", uri, "--chain", join(out, "up.pem"), "--dir", dir);
    expect(init.status, init.stderr).toBe(0);
    expect((await readCaSet(dir)).cas[name(init)]?.key).toBe(uri);
    const issued = await signWithFolderCa(dir, work);
    const check = await openssl(["verify", "-CAfile", issued.root, "-untrusted", join(out, "int.pem"), issued.svid]);
    expect(check.stdout, check.stderr).toContain(": OK");
  }, 60_000);

  it("without the BROKER_PKCS11_* variables, --in-token and a token CA are refused clearly, and nothing is written", async () => {
    const dir = join(work, "no-token");
    const refused = ca({}, "init", "--in-token", "--dir", dir);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/^broker ca: the CA key is in the PKCS#11 token, but no token is configured \(BROKER_PKCS11_MODULE, /);
    await expect(readFile(join(dir, CA_SET_FILE))).rejects.toThrow(/ENOENT/);
    // Options that do not go together are refused before the token is asked for anything.
    const badType = ca({}, "init", "--in-token", "--key-type", "ed25519", "--dir", dir);
    expect(badType.status).not.toBe(0);
    expect(badType.stderr).toContain("a CA key type: P-256, P-384, RSA-2048, RSA-3072");
    const imported = inToken("init", "--in-token", "--certificate", join(work, "x.pem"), "--key", "pkcs11:object=x", "--dir", dir);
    expect(imported.status).toBe(1);
    expect(imported.stderr).toContain("--in-token and --key-type are for a generated root");
    const stray = inToken("rotate", "--activate", "--in-token", "--dir", dir);
    expect(stray.stderr).toContain("--in-token, --key-type, --certificate, --key and --chain go with --prepare");
    await expect(readFile(join(dir, CA_SET_FILE))).rejects.toThrow(/ENOENT/);
    // A folder whose prepared CA is in the token: activating it needs the token.
    expect(inToken("init", "--in-token", "--dir", dir).status).toBe(0);
    expect(inToken("rotate", "--prepare", "--in-token", "--dir", dir).status).toBe(0);
    const activate = ca({}, "rotate", "--activate", "--force", "--dir", dir);
    expect(activate.status).toBe(1);
    expect(activate.stderr).toMatch(/but no token is configured/);
    // Half a configuration: every missing setting named at once.
    const half = ca({ BROKER_PKCS11_TOKEN: token.label }, "rotate", "--activate", "--force", "--dir", dir);
    expect(half.status).toBe(1);
    expect(half.stderr).toMatch(/BROKER_PKCS11_MODULE: required.*BROKER_PKCS11_PIN_FILE: set exactly one/);
    const wrong = ca({ ...token.brokerEnv, BROKER_PKCS11_PIN_FILE: join(work, "no-such-pin") }, "rotate", "--activate", "--force", "--dir", dir);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toContain("BROKER_PKCS11_PIN_FILE: cannot read");
  }, 60_000);
});
