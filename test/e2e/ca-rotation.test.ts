/**
 * A CA rotation on a live two-replica cluster (one Redis), run with the real `broker ca` CLI on
 * the CA folder both broker processes share, no restart, while `broker svid --renew` keeps a
 * workload's SVID fresh through it:
 *
 * 1. S0 from the first CA;
 * 2. `rotate --prepare` → both replicas' bundles hold both roots; S1 still from the first CA;
 * 3. `rotate --activate` → S2 from the new CA on both replicas; the renewing workload moves over;
 *    revoking S0 puts it on the first CA's CRL (served by both replicas);
 * 4. `rotate --retire <first>` → the first root and its CRL leave both replicas.
 *
 * Every SVID issued before, between and after is checked by the real openssl against the bundle a
 * client fetched after prepare, after activate and before retire, with -crl_check and the CRLs
 * fetched at that point (/svid/crls.pem). The SPIFFE bundle's sequence grows at every step and
 * both replicas serve the same one. Forced activate and retire: their waits are unit-tested.
 */
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { x509 } from "../../src/credentials/x509/x509.js";
import { eventually } from "../support/broker-fixture.js";
import { CLI_ARGS } from "../support/compiled-broker.js";
import { startReplicaPair, standaloneRedis, type ReplicaPair } from "../support/replica-pair.js";
import type { ReplicaClient } from "../support/replica-client.js";
import type { RedisServerHandle } from "../support/redis-server.js";
import { ROOT } from "../support/repo-root.js";
import { makeCsr, openssl, scratch } from "../support/svid-harness.js";
import { kubernetesClaims } from "../support/test-issuer.js";

const TRUST_DOMAIN = "rotation.svid.test";
const ADMIN_SECRET = "ca-rotation-e2e-admin-secret-0123456789-abcdef";
const DEADLINE_MS = 15_000; // file event + debounce, or the 10 s periodic check at worst
const RENEW_LIFETIME_SECONDS = 8;

let pair: ReplicaPair<RedisServerHandle>;
let tmp: Awaited<ReturnType<typeof scratch>>;
let caDir: string;

const grant = (account: string, lifetime: string) => ({
  id: `e2e-svid-${account}`,
  issuer: "kubernetes",
  condition: `identity.attributes.namespace == "payments" && identity.attributes.service_account == "${account}"`,
  grant: { workload_id: `k8s/payments/${account}`, spiffe_id: `spiffe://${TRUST_DOMAIN}/ns/payments/sa/${account}`, audiences: ["https://db.example.com"], max_lifetime: lifetime, token_types: ["x509_svid"] },
});

async function caCli(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return promisify(execFile)(process.execPath, [...CLI_ARGS, "ca", ...args, "--dir", caDir, "--trust-domain", TRUST_DOMAIN], { cwd: ROOT, env: { PATH: process.env.PATH ?? "" } });
}

beforeAll(async () => {
  tmp = await scratch();
  pair = await startReplicaPair({
    redis: standaloneRedis(),
    env: { BROKER_ADMIN_SECRET: ADMIN_SECRET, BROKER_TRUST_DOMAIN: TRUST_DOMAIN },
    // The managed CA folder exists before the replicas start (broker ca init: a new root).
    prepareKeys: async (keysDir) => {
      caDir = join(keysDir, "ca");
      await caCli("init");
    },
    policies: { "ledger.policy.yaml": grant("ledger", "15m"), "rotator.policy.yaml": grant("rotator", `${RENEW_LIFETIME_SECONDS}s`) },
  });
}, 90_000);
afterAll(async () => {
  await pair?.close();
  await tmp?.close();
});

let counter = 0;
/** An SVID for a fresh openssl key from `replica`; written to <name>.pem. Returns its file, serial and issuer key id. */
async function issueSvid(replica: ReplicaClient, name: string): Promise<{ file: string; serial: string; issuerKeyId: string }> {
  const csr = await makeCsr(tmp.dir, { name: `${name}-${counter++}` });
  const token = await pair.fx.issuers.kubernetes.mint(kubernetesClaims({ serviceAccount: "ledger" }));
  const res = await fetch(`${replica.url}/svid/x509`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ subject_token: token, subject_token_type: "urn:ietf:params:oauth:token-type:jwt", csr: csr.pem }),
  });
  const body = (await res.json()) as { x509_svid: string; serial: string };
  expect(res.status, JSON.stringify(body)).toBe(200);
  await tmp.write(`${name}.pem`, body.x509_svid);
  return { file: `${name}.pem`, serial: body.serial, issuerKeyId: authorityKeyId(body.x509_svid) };
}

/** The leaf's authorityKeyIdentifier: which CA signed it. */
const authorityKeyId = (pem: string): string => new x509.X509Certificate(pem).getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId?.toLowerCase() ?? "";

/** What a client holds after fetching from `replica`: the bundle and every published CA's CRL. */
async function fetchTrust(replica: ReplicaClient, label: string): Promise<{ bundle: string; crls: string; roots: number }> {
  const bundle = (await replica.get("/svid/bundle.pem")).text;
  const crls = (await replica.get("/svid/crls.pem")).text;
  await tmp.write(`${label}-bundle.pem`, bundle);
  await tmp.write(`${label}-crls.pem`, crls);
  return { bundle: `${label}-bundle.pem`, crls: `${label}-crls.pem`, roots: bundle.match(/BEGIN CERTIFICATE/g)?.length ?? 0 };
}

async function verify(trust: { bundle: string; crls: string }, svid: string): Promise<string> {
  const result = await openssl(["verify", "-crl_check", "-CAfile", trust.bundle, "-CRLfile", trust.crls, svid], tmp.dir);
  return (result.stdout + result.stderr).trim();
}

async function sequences(): Promise<number[]> {
  return Promise.all([pair.a, pair.b].map(async (replica) => (await replica.get("/.well-known/spiffe-bundle")).json.spiffe_sequence as number));
}

/** Waits until both replicas publish `roots` roots; checks they agree on a sequence above `previous`. */
async function bundleStep(roots: number, previous: number, step: string): Promise<number> {
  for (const replica of [pair.a, pair.b]) {
    await eventually(async () => (await fetchTrust(replica, `${step}-${replica.name}`)).roots === roots, DEADLINE_MS, `${replica.name} bundle after ${step}`);
  }
  const [a, b] = await sequences();
  expect(a, `spiffe_sequence after ${step}`).toBeGreaterThan(previous);
  expect(b, `replicas agree after ${step}`).toBe(a);
  return a as number;
}

function startRenewing(tokenPath: string, out: string) {
  const child = spawn(process.execPath, [...CLI_ARGS, "svid", "--broker", pair.b.url, "--token-file", tokenPath, "--out", out, "--renew"], { cwd: ROOT, env: { PATH: process.env.PATH ?? "" }, stdio: ["ignore", "pipe", "pipe"] });
  const output = { stderr: "" };
  child.stderr.on("data", (chunk: Buffer) => (output.stderr += chunk.toString("utf8")));
  const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  return { child, output, exited };
}

describe("CA rotation across two live replicas", () => {
  it("prepare → activate → retire: every SVID verifies with openssl against every bundle fetched on the way, CRLs checked, renewal running through", async () => {
    const tokenPath = await tmp.write("rotator.jwt", `${await pair.fx.issuers.kubernetes.mint(kubernetesClaims({ serviceAccount: "rotator" }))}\n`);
    const out = join(tmp.dir, "renewing");
    const renewing = startRenewing(tokenPath, out);
    try {
      // 1. The first CA signs.
      const first = JSON.parse((await caCli("list", "--json")).stdout) as { name: string; keyId: string }[];
      const oldCa = first[0] as { name: string; keyId: string };
      const s0 = await issueSvid(pair.a, "s0");
      expect(s0.issuerKeyId).toBe(oldCa.keyId.replace(/:/g, "").toLowerCase());
      let sequence = await bundleStep(1, 0, "start");
      await eventually(async () => (await readFile(join(out, "svid.pem"), "utf8").catch(() => "")) !== "", DEADLINE_MS, "the renewing workload's first SVID");

      // 2. Prepare: both roots in both bundles; the first CA still signs.
      const prepared = await caCli("rotate", "--prepare");
      const newName = /prepared .*: (ca-\S+) \(key id ([0-9a-f]+)/.exec(prepared.stdout);
      expect(newName, prepared.stdout).not.toBeNull();
      const newKeyId = newName?.[2] ?? "";
      sequence = await bundleStep(2, sequence, "prepare");
      const afterPrepare = await fetchTrust(pair.b, "after-prepare");
      const s1 = await issueSvid(pair.b, "s1");
      expect(s1.issuerKeyId).toBe(s0.issuerKeyId);
      for (const svid of [s0, s1]) expect(await verify(afterPrepare, svid.file)).toBe(`${svid.file}: OK`);

      // 3. Activate: the new CA signs on both replicas; the renewing workload gets an SVID from it.
      const activated = await caCli("rotate", "--activate", "--force");
      expect(activated.stderr).toMatch(/WARNING: forced: CA .* was published \d+ s ago/);
      for (const replica of [pair.a, pair.b]) {
        await eventually(async () => (await issueSvid(replica, `probe-${replica.name}`)).issuerKeyId === newKeyId, DEADLINE_MS, `${replica.name} signs with the new CA`);
      }
      sequence = await bundleStep(2, sequence, "activate");
      const s2 = await issueSvid(pair.a, "s2");
      const s2b = await issueSvid(pair.b, "s2b");
      expect([s2.issuerKeyId, s2b.issuerKeyId]).toEqual([newKeyId, newKeyId]);
      const afterActivate = await fetchTrust(pair.a, "after-activate");
      await eventually(async () => authorityKeyId(await readFile(join(out, "svid.pem"), "utf8")) === newKeyId, (RENEW_LIFETIME_SECONDS + 5) * 1000, "a renewal signed by the new CA");
      const renewed = await tmp.write("renewed.pem", await readFile(join(out, "svid.pem"), "utf8"));
      expect((await openssl(["verify", "-CAfile", join(out, "bundle.pem"), renewed], tmp.dir)).stdout).toContain("OK");
      for (const trust of [afterPrepare, afterActivate]) {
        for (const svid of [s0, s1, s2, s2b, { file: "renewed.pem" }]) expect(await verify(trust, svid.file)).toBe(`${svid.file}: OK`);
      }

      // Revoking S0 (the first CA's) after activation: on the first CA's CRL, served by both replicas.
      expect((await pair.a.admin("POST", "/admin/revocations/svids", ADMIN_SECRET, { serial: s0.serial, reason: "ca rotation e2e" })).status).toBe(201);
      for (const replica of [pair.a, pair.b]) {
        await eventually(async () => {
          const crl = await replica.get(`/svid/crl?issuer=${oldCa.keyId}&format=pem`);
          await tmp.write(`old-crl-${replica.name}.pem`, crl.text);
          return (await openssl(["crl", "-in", `old-crl-${replica.name}.pem`, "-noout", "-text"], tmp.dir)).stdout.toLowerCase().includes(s0.serial.replace(/^0+/, ""));
        }, DEADLINE_MS, `${replica.name}: S0 on the first CA's CRL`);
      }
      const beforeRetire = await fetchTrust(pair.b, "before-retire");
      expect(await verify(beforeRetire, s0.file)).toMatch(/certificate revoked/);
      for (const svid of [s1, s2, s2b, { file: "renewed.pem" }]) expect(await verify(beforeRetire, svid.file)).toBe(`${svid.file}: OK`);
      expect(beforeRetire.roots).toBe(2);

      // 4. Retire the first CA: refused until its last SVID expired (forced here).
      await expect(caCli("rotate", "--retire", oldCa.name)).rejects.toMatchObject({ stderr: expect.stringMatching(/--force overrides/) });
      await caCli("rotate", "--retire", oldCa.name, "--force");
      await bundleStep(1, sequence, "retire");
      for (const replica of [pair.a, pair.b]) {
        expect((await replica.get(`/svid/crl?issuer=${oldCa.keyId}`)).status).toBe(404);
        const afterRetire = await fetchTrust(replica, `after-retire-${replica.name}`);
        expect(await verify(afterRetire, s2.file)).toBe(`${s2.file}: OK`);
        expect(await verify(afterRetire, s1.file)).toMatch(/unable to get (local )?issuer certificate/);
      }
      expect(renewing.output.stderr).not.toMatch(/renewal failed/);
      for (const broker of [pair.brokerA, pair.brokerB]) {
        expect(broker.logRecords().filter((record) => record.msg === "CA set reloaded").length).toBeGreaterThanOrEqual(3);
        expect(broker.logRecords().filter((record) => record.msg === "CA set not reloaded: keeping the CAs in force")).toEqual([]);
      }
    } finally {
      renewing.child.kill("SIGTERM");
      await renewing.exited;
    }
  }, 180_000);
});
