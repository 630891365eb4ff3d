/**
 * X.509-SVIDs, the SPIFFE bundle, JWT-SVIDs and the CRL through the whole broker in-process (buildBroker, app.request()): a
 * Kubernetes workload presents its projected token and a CSR made by openssl; an operator revokes
 * the workload through the admin API; `openssl verify -crl_check` then refuses its SVID.
 */
import { X509Certificate } from "node:crypto";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { createLocalJWKSet, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeForm, startInProcessBroker, TOKEN_TYPES, type InProcessBroker } from "../support/in-process-broker.js";
import { kubernetesClaims } from "../support/test-issuer.js";
import { makeCsr, openssl, scratch } from "../support/svid-harness.js";

const ADMIN_SECRET = "svid-e2e-admin-secret-0123456789abcdefghijkl";
const TRUST_DOMAIN = "e2e.svid.test";
const spiffeIdOf = (sa: string) => `spiffe://${TRUST_DOMAIN}/ns/payments/sa/${sa}`;

let fx: InProcessBroker;
let tmp: Awaited<ReturnType<typeof scratch>>;

beforeAll(async () => {
  tmp = await scratch();
  fx = await startInProcessBroker({
    env: { BROKER_ADMIN_SECRET: ADMIN_SECRET, BROKER_TRUST_DOMAIN: TRUST_DOMAIN, BROKER_SVID_MAX_LIFETIME: "20m", BROKER_CRL_NEXT_UPDATE: "2m" },
    policies: {
      "kubernetes-svid.policy.yaml": {
        id: "e2e-kubernetes-svid",
        issuer: "kubernetes",
        condition: 'identity.attributes.namespace == "payments" && identity.attributes.service_account in ["ledger", "billing"]',
        grant: {
          workload_id_expr: '"k8s/payments/" + identity.attributes.service_account',
          spiffe_id_expr: `"spiffe://${TRUST_DOMAIN}/ns/" + identity.attributes.namespace + "/sa/" + identity.attributes.service_account`,
          dns_names: ["ledger.payments.svc"],
          audiences: ["https://ledger-db.example.com"],
          max_lifetime: "1h",
          token_types: ["access_token", "jwt", "x509_svid"],
        },
      },
    },
  });
}, 60_000);
afterAll(async () => {
  await fx?.close();
  await tmp?.close();
});

async function svid(serviceAccount: string, csrPem: string) {
  const token = await fx.issuers.kubernetes.mint(kubernetesClaims({ serviceAccount }));
  return fx.request("/svid/x509", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: encodeForm({ subject_token: token, subject_token_type: TOKEN_TYPES.jwt, csr: csrPem }),
  });
}

describe("SVIDs from a real broker process", () => {
  let ledger: Record<string, unknown>;
  let billing: Record<string, unknown>;

  it("generates a development root CA into keys/ca/ (key mode 0600) on first start", async () => {
    expect((await stat(join(fx.keysDir, "ca", "ca.key"))).mode & 0o777).toBe(0o600);
    const bundle = await fx.get("/svid/bundle.pem");
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get("content-type")).toBe("application/x-pem-file");
    const root = new X509Certificate(bundle.text);
    expect(root.ca).toBe(true);
    expect(root.subjectAltName).toBe(`URI:spiffe://${TRUST_DOMAIN}`);
    await tmp.write("bundle.pem", bundle.text);
  });

  it("POST /svid/x509 issues an SVID that openssl verifies against the bundle", async () => {
    const res = await svid("ledger", (await makeCsr(tmp.dir)).pem);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    ledger = res.json;
    expect(Object.keys(ledger).sort()).toEqual(["bundle", "expires_at", "serial", "spiffe_id", "x509_svid"]);
    expect(ledger.spiffe_id).toBe(spiffeIdOf("ledger"));
    await tmp.write("ledger.pem", ledger.x509_svid as string);
    const verified = await openssl(["verify", "-CAfile", "bundle.pem", "ledger.pem"], tmp.dir);
    expect(verified.stdout).toContain("ledger.pem: OK");
    // Capped by BROKER_SVID_MAX_LIFETIME (20m) under the policy's 1h.
    expect(ledger.expires_at as number).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 1200);
    expect(ledger.expires_at as number).toBeGreaterThan(Date.now() / 1000 + 1100);
  });

  it("refuses a CSR asking for more than the grant with a 400 that says why, and stays up", async () => {
    const res = await svid("ledger", (await makeCsr(tmp.dir, { addext: ["basicConstraints=critical,CA:TRUE"] })).pem);
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: "invalid_request", error_description: expect.stringMatching(/^csr asks for a CA certificate/) });
    const garbage = await svid("ledger", "-----BEGIN CERTIFICATE REQUEST-----\nMIIBAAAA\n-----END CERTIFICATE REQUEST-----\n");
    expect(garbage.status).toBe(400);
    expect((await fx.get("/healthz")).status).toBe(200);
  });

  it("a workload without an x509_svid grant is refused like /token refuses it", async () => {
    const res = await svid("api", (await makeCsr(tmp.dir)).pem);
    expect(res.status).toBe(400);
    expect(res.json.error).toBe("invalid_request");
  });

  it("the SPIFFE bundle has the root as x509-svid and the signing key as jwt-svid; a JWT-SVID verifies with it", async () => {
    const bundle = await fx.get("/.well-known/spiffe-bundle");
    expect(bundle.status).toBe(200);
    const keys = bundle.json.keys as Record<string, unknown>[];
    const x509Keys = keys.filter((key) => key.use === "x509-svid");
    expect(x509Keys).toHaveLength(1);
    expect((x509Keys[0]?.x5c as string[]).length).toBe(1);
    expect(new X509Certificate(Buffer.from((x509Keys[0]?.x5c as string[])[0] ?? "", "base64")).subjectAltName).toBe(`URI:spiffe://${TRUST_DOMAIN}`);
    expect(typeof bundle.json.spiffe_sequence).toBe("number");
    expect(bundle.json.spiffe_refresh_hint).toBe(300);

    const token = await fx.issuers.kubernetes.mint(kubernetesClaims({ serviceAccount: "ledger" }));
    const res = await fx.exchange({ ...fx.form(token), requested_token_type: TOKEN_TYPES.jwt, audience: "https://ledger-db.example.com" });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ issued_token_type: TOKEN_TYPES.jwt, token_type: "N_A" });
    const jwtKeys = keys.filter((key) => key.use === "jwt-svid").map(({ use: _use, ...key }) => key);
    // Each JWT key says its algorithm (RFC 7517 §4.4), as in the broker's JWKS.
    const published = (await fx.get("/.well-known/jwks.json")).json.keys as { alg: string }[];
    expect(jwtKeys.map((key) => key.alg)).toEqual(published.map((key) => key.alg));
    expect(jwtKeys[0]?.alg).toBe("ES256");
    const { payload } = await jwtVerify(res.json.access_token as string, createLocalJWKSet({ keys: jwtKeys }), { audience: "https://ledger-db.example.com" });
    expect(payload.sub).toBe(spiffeIdOf("ledger"));
  });

  it("revoking the workload through the admin API puts its SVID on the CRL; another workload's SVID still verifies", async () => {
    billing = (await svid("billing", (await makeCsr(tmp.dir)).pem)).json;
    await tmp.write("billing.pem", billing.x509_svid as string);
    const revoke = await fx.request("/admin/revocations/workloads", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_SECRET}` },
      body: JSON.stringify({ workload_id: "k8s/payments/ledger", reason: "svid e2e" }),
    });
    expect(revoke.status).toBe(201);

    // The CRL is signed afresh at most every 2 s.
    let crlText = "";
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline) {
      const crl = await fx.get("/svid/crl?format=pem");
      expect(crl.status).toBe(200);
      await tmp.write("crl.pem", crl.text);
      crlText = (await openssl(["crl", "-in", "crl.pem", "-noout", "-text"], tmp.dir)).stdout;
      if (crlText.includes((ledger.serial as string).toUpperCase())) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(crlText).toContain((ledger.serial as string).toUpperCase());
    expect(crlText).not.toContain((billing.serial as string).toUpperCase());
    const nextUpdate = Date.parse(/Next Update: (.+)/.exec(crlText)?.[1] ?? "") - Date.parse(/Last Update: (.+)/.exec(crlText)?.[1] ?? "");
    expect(nextUpdate).toBe(120_000);

    const revoked = await openssl(["verify", "-crl_check", "-CAfile", "bundle.pem", "-CRLfile", "crl.pem", "ledger.pem"], tmp.dir);
    expect(revoked.code).not.toBe(0);
    expect(revoked.stdout + revoked.stderr).toMatch(/certificate revoked/);
    const good = await openssl(["verify", "-crl_check", "-CAfile", "bundle.pem", "-CRLfile", "crl.pem", "billing.pem"], tmp.dir);
    expect(good.stdout).toContain("billing.pem: OK");

    const der = await fx.get("/svid/crl");
    expect(der.headers.get("content-type")).toBe("application/pkix-crl");
  });

  it("an operator revokes one SVID by serial", async () => {
    const res = await fx.request("/admin/revocations/svids", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_SECRET}` },
      body: JSON.stringify({ serial: billing.serial, reason: "key leaked" }),
    });
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ serial: billing.serial, workload_id: "k8s/payments/billing", actor: "bootstrap-admin", reason: "key leaked" });
    const unknown = await fx.request("/admin/revocations/svids", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_SECRET}` },
      body: JSON.stringify({ serial: "0badc0de", reason: "x" }),
    });
    expect(unknown.status).toBe(404);
  });

  it("never returns private key material", async () => {
    const secrets = await fx.privateKeyMaterial();
    const bodies = [JSON.stringify(ledger), JSON.stringify(billing), (await fx.get("/.well-known/spiffe-bundle")).text, (await fx.get("/svid/bundle.pem")).text];
    for (const secret of secrets) for (const body of bodies) expect(body).not.toContain(secret);
  });
});
