/**
 * The managed CA folder through the whole broker in-process: the start-up checks (a static CA and
 * a managed folder at once is refused; a CA inside the warning horizon is logged), the CRL routes'
 * input (`?issuer=` a hex key id of a published CA, else 400 or 404), and the per-CA expiry metric.
 */
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { initCaSet, listCas, prepareNextCa } from "../../src/credentials/x509/ca-rotation.js";
import { createRootCa } from "../../src/credentials/x509/ca-store.js";
import { systemClock } from "../../src/lib/clock.js";
import { expectRefusal } from "../support/refusal.js";
import { startInProcessBroker, type InProcessBroker } from "../support/in-process-broker.js";

const TRUST_DOMAIN = "managed.svid.test";
let fx: InProcessBroker | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

const managedFolder = (days = 365) => async (keysDir: string) => {
  const dir = join(keysDir, "ca");
  await initCaSet(dir, { clock: systemClock, trustDomain: TRUST_DOMAIN, root: { days } });
  await prepareNextCa(dir, { clock: systemClock, trustDomain: TRUST_DOMAIN });
};

describe("a broker on a managed CA folder", () => {
  it("serves both CAs' roots, each CA's CRL by key id, all CRLs at once, and one expiry series per CA", async () => {
    fx = await startInProcessBroker({ env: { BROKER_TRUST_DOMAIN: TRUST_DOMAIN }, prepareKeys: managedFolder() });
    const cas = await listCas(join(fx.keysDir, "ca"));
    expect((await fx.get("/svid/bundle.pem")).text.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    for (const ca of cas) {
      const crl = await fx.get(`/svid/crl?issuer=${ca.keyId.toUpperCase().match(/../g)?.join(":")}`);
      expect(crl.status).toBe(200);
    }
    expect((await fx.get("/svid/crls.pem")).text.match(/BEGIN X509 CRL/g)).toHaveLength(2);
    expectRefusal(await fx.get(`/svid/crl?issuer=${"ab".repeat(20)}`), { status: 404, error: "not_found" });
    expectRefusal(await fx.get("/svid/crl?issuer=not-hex"), { status: 400, error: "invalid_request" });
    const metrics = (await fx.get("/metrics")).text;
    for (const ca of cas) expect(metrics).toMatch(new RegExp(`broker_x509_ca_not_after_timestamp_seconds\\{ca="${ca.name}",state="${ca.state}"\\} \\d+`));
  });

  it("warns at start of a CA expiring within BROKER_CA_EXPIRY_WARNING", async () => {
    fx = await startInProcessBroker({ env: { BROKER_TRUST_DOMAIN: TRUST_DOMAIN, BROKER_CA_EXPIRY_WARNING: "400d" }, prepareKeys: managedFolder(20) });
    const warnings = fx.broker.logRecords().filter((record) => /X\.509-SVID CA expires soon/.test(String(record.msg)));
    expect(warnings.map((record) => record.state).sort()).toEqual(["active", "next"]);
  });

  it("refuses to start with both BROKER_CA_CERT and a managed CA folder", async () => {
    const dir = await mkdtemp(join(tmpdir(), "static-ca-"));
    const paths = { dir, certificate: join(dir, "ca.pem"), key: join(dir, "ca.key") };
    await createRootCa(paths, TRUST_DOMAIN, new Date(), { commonName: "static", days: 30 });
    try {
      const started = startInProcessBroker({ env: { BROKER_TRUST_DOMAIN: TRUST_DOMAIN, BROKER_CA_CERT: paths.certificate, BROKER_CA_KEY: paths.key }, prepareKeys: managedFolder() });
      await expect(started).rejects.toThrow(/BROKER_CA_CERT and the managed CA folder .*ca-set\.json are both configured/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
