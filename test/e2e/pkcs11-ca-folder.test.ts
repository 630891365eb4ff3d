/**
 * A managed CA folder whose CA keys live in a real SoftHSM2 token, made and rotated with the
 * compiled `broker ca … --in-token` CLI, served by a real broker process that signs its JWTs with
 * file keys and reaches the token through BROKER_PKCS11_* alone (no BROKER_SIGNING_KEYS=pkcs11):
 * the SVIDs it issues pass `openssl verify -crl_check` against the /svid/bundle.pem and
 * /svid/crls.pem it serves, before and after a rotation to a second token CA, with no restart.
 */
import { execFile } from "node:child_process";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readCaSet } from "../../src/credentials/x509/ca-set-document.js";
import { TokenClient } from "../../src/pkcs11/token-client.js";
import { encodeForm, eventually, startBrokerFixture, type BrokerFixture } from "../support/broker-fixture.js";
import { CLI_ARGS } from "../support/compiled-broker.js";
import { ROOT } from "../support/repo-root.js";
import { createSoftHsmToken, useSoftHsmEnv, type SoftHsmToken } from "../support/softhsm.js";
import { makeCsr, openssl, scratch } from "../support/svid-harness.js";
import { kubernetesClaims } from "../support/test-issuer.js";

const TRUST_DOMAIN = "hsm-folder.svid.test";

let token: SoftHsmToken;
/** BROKER_PKCS11_* and SOFTHSM2_CONF, without BROKER_SIGNING_KEYS: the signing keys stay files. */
let tokenEnv: Record<string, string>;
let fx: BrokerFixture;
let tmp: Awaited<ReturnType<typeof scratch>>;
let caDir: string;

async function caCli(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [...CLI_ARGS, "ca", ...args, "--dir", caDir, "--trust-domain", TRUST_DOMAIN], { cwd: ROOT, env: { PATH: process.env.PATH ?? "", ...tokenEnv } });
  return stdout;
}

beforeAll(async () => {
  token = createSoftHsmToken("e2e-ca-folder");
  useSoftHsmEnv(token);
  const { BROKER_SIGNING_KEYS: _files, ...rest } = token.brokerEnv;
  tokenEnv = rest;
  tmp = await scratch();
  fx = await startBrokerFixture({
    env: { ...tokenEnv, BROKER_TRUST_DOMAIN: TRUST_DOMAIN },
    // The operator's step before the first start: the CA folder, its key generated in the token.
    prepareKeys: async (keysDir) => {
      caDir = join(keysDir, "ca");
      await caCli("init", "--in-token");
    },
    policies: {
      "ledger.policy.yaml": {
        id: "e2e-hsm-folder-svid",
        issuer: "kubernetes",
        condition: 'identity.attributes.namespace == "payments" && identity.attributes.service_account == "ledger"',
        grant: { workload_id: "k8s/payments/ledger", spiffe_id: `spiffe://${TRUST_DOMAIN}/ns/payments/sa/ledger`, audiences: ["https://db.example.com"], max_lifetime: "15m", token_types: ["x509_svid"] },
      },
    },
  });
}, 120_000);

afterAll(async () => {
  await fx?.close();
  await tmp?.close();
  token?.remove();
}, 30_000);

let counter = 0;
/** An SVID from the broker, and the bundle and CRLs it serves now; answers openssl's verdict with -crl_check. */
async function issueAndVerify(): Promise<{ verdict: string; svid: string; issuer: string }> {
  const csr = await makeCsr(tmp.dir, { name: `folder-${counter}` });
  const subject = await fx.issuers.kubernetes.mint(kubernetesClaims({ serviceAccount: "ledger" }));
  const issued = await fx.request("/svid/x509", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: encodeForm({ subject_token: subject, subject_token_type: "urn:ietf:params:oauth:token-type:jwt", csr: csr.pem }),
  });
  expect(issued.status, issued.text).toBe(200);
  const svid = await tmp.write(`svid-${counter}.pem`, String(issued.json.x509_svid));
  const bundle = await tmp.write(`bundle-${counter}.pem`, (await fx.get("/svid/bundle.pem")).text);
  const crls = await tmp.write(`crls-${counter}.pem`, (await fx.get("/svid/crls.pem")).text);
  counter++;
  const result = await openssl(["verify", "-crl_check", "-CAfile", bundle, "-CRLfile", crls, svid]);
  const issuer = await openssl(["x509", "-in", svid, "-noout", "-ext", "authorityKeyIdentifier"]);
  return { verdict: (result.stdout + result.stderr).trim(), svid, issuer: (/(?:[0-9A-F]{2}:)+[0-9A-F]{2}/.exec(issuer.stdout)?.[0] ?? "").replace(/:/g, "").toLowerCase() };
}

describe("a managed CA folder with its CA keys in the token (SoftHSM2), a real broker process on file signing keys", () => {
  it("issues SVIDs that openssl verifies with -crl_check against the served bundle and CRLs, before and after rotating to a new token CA", async () => {
    expect((await readdir(caDir)).filter((name) => name.endsWith(".key"))).toEqual([]);
    const first = await readCaSet(caDir);
    expect(first.cas[first.active]?.key).toMatch(/^pkcs11:object=ca-[0-9TZ]+-[0-9a-f]{8};id=/);
    expect(fx.broker.logRecords()).toContainEqual(expect.objectContaining({ msg: "X.509-SVID CA set loaded", activeCa: first.active }));
    const before = await issueAndVerify();
    expect(before.verdict).toBe(`${before.svid}: OK`);
    expect(first.active).toContain(before.issuer.slice(0, 8));

    // Rotate while it runs: the next CA's key generated in the token too; the broker follows the folder.
    await caCli("rotate", "--prepare", "--in-token");
    await eventually(async () => ((await fx.get("/svid/bundle.pem")).text.match(/BEGIN CERTIFICATE/g) ?? []).length === 2, 20_000, "both roots in the bundle");
    await caCli("rotate", "--activate", "--force");
    const second = await readCaSet(caDir);
    await eventually(async () => (await issueAndVerify()).issuer.startsWith(second.active.slice(-8)), 20_000, "SVIDs from the new token CA");
    const after = await issueAndVerify();
    expect(after.verdict).toBe(`${after.svid}: OK`);
    expect(second.active).toContain(after.issuer.slice(0, 8));
    expect(after.issuer).not.toBe(before.issuer);
    // The SVID of the first CA still verifies against the bundle and CRLs served now.
    const bundle = await tmp.write("bundle-now.pem", (await fx.get("/svid/bundle.pem")).text);
    const crls = await tmp.write("crls-now.pem", (await fx.get("/svid/crls.pem")).text);
    const old = await openssl(["verify", "-crl_check", "-CAfile", bundle, "-CRLfile", crls, before.svid]);
    expect(old.stdout.trim(), old.stderr).toBe(`${before.svid}: OK`);

    const client = await TokenClient.open({ module: token.module, token: token.label, pin: token.pin }, { timeoutMs: 20_000 });
    try {
      expect((await client.call("listKeys")).map((key) => key.label).sort()).toEqual([first.active, second.active].sort());
      for (const label of [first.active, second.active]) expect(await client.call("attributes", label)).toMatchObject({ sensitive: true, extractable: false, valueReadable: false });
    } finally {
      await client.close();
    }
    expect(fx.broker.output.join("\n")).not.toContain(token.pin);
  }, 120_000);
});
