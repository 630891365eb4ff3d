/**
 * The X.509-SVID CA key inside a real SoftHSM2 token (test/support/softhsm.ts), named by an RFC
 * 7512 URI in BROKER_CA_KEY, with the signing keys in files: a real broker process issues SVIDs
 * and CRLs signed in the token, and the real openssl verifies them against the bundle the broker
 * serves. A token that stops answering makes /svid/x509 answer 503, never 500, with one log line.
 */
import { readdir, rename, writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selfSignedRoot } from "../../src/credentials/x509/ca-store.js";
import { openTokenCaKey } from "../../src/pkcs11/token-ca-key.js";
import { TokenClient } from "../../src/pkcs11/token-client.js";
import { encodeForm, startBrokerFixture, type BrokerFixture, type BrokerResponse } from "../support/broker-fixture.js";
import { expectRefusal } from "../support/refusal.js";
import { createSoftHsmToken, useSoftHsmEnv, type SoftHsmToken } from "../support/softhsm.js";
import { makeCsr, openssl, scratch } from "../support/svid-harness.js";
import { kubernetesClaims } from "../support/test-issuer.js";

const TRUST_DOMAIN = "hsm.svid.test";
const CA_LABEL = "broker-ca-e2e";
const ADMIN_SECRET = "pkcs11-ca-e2e-admin-secret-0123456789-abcdef";

let token: SoftHsmToken;
let client: TokenClient;
let fx: BrokerFixture;
let tmp: Awaited<ReturnType<typeof scratch>>;

beforeAll(async () => {
  token = createSoftHsmToken("e2e-ca");
  useSoftHsmEnv(token);
  tmp = await scratch();
  // The operator's steps: a CA key generated inside the token, its root certificate signed there.
  client = await TokenClient.open({ module: token.module, token: token.label, pin: token.pin }, { timeoutMs: 20_000 });
  await client.call("generate", CA_LABEL, { kind: "ec", curve: "P-256" });
  const root = await selfSignedRoot(await openTokenCaKey(client, `pkcs11:object=${CA_LABEL}`), TRUST_DOMAIN, new Date(), { commonName: "hsm e2e root CA", days: 30 });
  const certificate = await tmp.write("ca.pem", `${root.toString("pem")}\n`);
  const { BROKER_SIGNING_KEYS: _files, ...tokenEnv } = token.brokerEnv;
  fx = await startBrokerFixture({
    env: { ...tokenEnv, BROKER_TRUST_DOMAIN: TRUST_DOMAIN, BROKER_CA_CERT: certificate, BROKER_CA_KEY: `pkcs11:token=${token.label};object=${CA_LABEL}`, BROKER_ADMIN_SECRET: ADMIN_SECRET },
    policies: {
      "ledger.policy.yaml": {
        id: "e2e-hsm-svid",
        issuer: "kubernetes",
        condition: 'identity.attributes.namespace == "payments" && identity.attributes.service_account == "ledger"',
        grant: { workload_id: "k8s/payments/ledger", spiffe_id: `spiffe://${TRUST_DOMAIN}/ns/payments/sa/ledger`, audiences: ["https://db.example.com"], max_lifetime: "15m", token_types: ["x509_svid"] },
      },
    },
  });
}, 90_000);

afterAll(async () => {
  await fx?.close();
  await client?.close();
  await tmp?.close();
  token?.remove();
}, 30_000);

let counter = 0;
async function requestSvid(): Promise<BrokerResponse> {
  const csr = await makeCsr(tmp.dir, { name: `hsm-${counter++}` });
  const subject = await fx.issuers.kubernetes.mint(kubernetesClaims({ serviceAccount: "ledger" }));
  return fx.request("/svid/x509", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: encodeForm({ subject_token: subject, subject_token_type: "urn:ietf:params:oauth:token-type:jwt", csr: csr.pem }),
  });
}

describe("the X.509-SVID CA key in a PKCS#11 token (SoftHSM2), a real broker process", () => {
  it("issues SVIDs and a CRL signed in the token that openssl verifies against the served bundle; a revoked SVID fails -crl_check", async () => {
    expect((await readdir(tmp.dir)).filter((name) => name.endsWith(".key"))).toEqual([]);
    expect(await client.call("attributes", CA_LABEL)).toMatchObject({ sensitive: true, extractable: false, valueReadable: false });
    const issued = await requestSvid();
    expect(issued.status, issued.text).toBe(200);
    const svid = await tmp.write("svid.pem", String(issued.json.x509_svid));
    const bundle = await tmp.write("bundle.pem", (await fx.get("/svid/bundle.pem")).text);
    const crls = await tmp.write("crls.pem", (await fx.get("/svid/crls.pem")).text);
    expect((await openssl(["crl", "-in", crls, "-noout", "-CAfile", bundle])).stderr).toMatch(/verify OK/);
    const good = await openssl(["verify", "-crl_check", "-CAfile", bundle, "-CRLfile", crls, svid]);
    expect(good.stdout.trim(), good.stderr).toBe(`${svid}: OK`);

    const revoke = await fx.request("/admin/revocations/svids", {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_SECRET}`, "content-type": "application/json" },
      body: JSON.stringify({ serial: issued.json.serial, reason: "pkcs11 ca e2e" }),
    });
    expect(revoke.status, revoke.text).toBe(201);
    // The CRL is re-signed in the token within its reuse window.
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    await writeFile(crls, (await fx.get("/svid/crls.pem")).text);
    const revoked = await openssl(["verify", "-crl_check", "-CAfile", bundle, "-CRLfile", crls, svid]);
    expect(revoked.stdout + revoked.stderr).toMatch(/certificate revoked/);
    expect(fx.broker.logRecords()).toContainEqual(expect.objectContaining({ msg: "X.509-SVID CA loaded", keyCustody: "pkcs11" }));
  }, 60_000);

  it("fails closed when the token's storage is removed: /svid/x509 answers 503 temporarily_unavailable with one log line, never 500", async () => {
    const away = `${token.tokenDir}.away`;
    await rename(token.tokenDir, away);
    try {
      expectRefusal(await requestSvid(), { status: 503, error: "temporarily_unavailable" });
      expect(fx.broker.logRecords()).toContainEqual(expect.objectContaining({ msg: "PKCS#11 token call failed: requests that need it answer 503", keyLabel: CA_LABEL }));
      expect(fx.broker.output.join("\n")).not.toContain(token.pin);
    } finally {
      await rename(away, token.tokenDir);
    }
  }, 30_000);
});
