/**
 * CA rotation on the managed CA folder, step by step with a manual clock: each step's manifest,
 * each safety check refusing until its time (and --force overriding with a warning), the set the
 * replicas load after each step (states, bundle roots, SPIFFE sequence), and the store keeping
 * the CAs in force when the folder goes bad.
 */
import { readFile, stat, writeFile } from "node:fs/promises";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RotationRefused } from "../../../src/credentials/key-rotation.js";
import { spiffeBundle } from "../../../src/credentials/x509/bundle.js";
import { expiringCas } from "../../../src/credentials/x509/ca-expiry.js";
import { activateNextCa, CA_RETIRE_MARGIN_SECONDS, initCaSet, listCas, prepareNextCa, PUBLISH_CA_BEFORE_ACTIVATE_SECONDS, retireCa } from "../../../src/credentials/x509/ca-rotation.js";
import { readCaSet } from "../../../src/credentials/x509/ca-set-document.js";
import { loadCaSet, singleCaSet } from "../../../src/credentials/x509/ca-set.js";
import { CaSetStore } from "../../../src/credentials/x509/ca-set-store.js";
import { createRootCa, ensureDevCa, loadDevCa } from "../../../src/credentials/x509/ca-store.js";
import { ManualClock } from "../../../src/lib/clock.js";
import { openssl, scratch, TRUST_DOMAIN } from "../../support/svid-harness.js";

const SVID_LIFETIME = 3600;
let keysDir: string;
let dir: string;
let clock: ManualClock;
const options = () => ({ clock, trustDomain: TRUST_DOMAIN });
const load = () => loadCaSet(dir, { trustDomain: TRUST_DOMAIN, now: new Date(clock.now()) });
const sequence = async () => spiffeBundle(await load(), [], 0).spiffe_sequence;

beforeEach(async () => {
  keysDir = await mkdtemp(join(tmpdir(), "ca-rotation-"));
  dir = join(keysDir, "ca");
  clock = new ManualClock(Date.now());
});
afterEach(async () => {
  await rm(keysDir, { recursive: true, force: true });
});

describe("broker ca rotate", () => {
  it("prepare → activate → retire: each step's manifest, the set loaded after it, a sequence that only grows", async () => {
    const first = await initCaSet(dir, options());
    await expect(initCaSet(dir, options())).rejects.toThrow(/ca-set\.json exists/);
    const sequences = [await sequence()];
    expect((await load()).published.map((each) => [each.name, each.state])).toEqual([[first.name, "active"]]);

    clock.advance(1000);
    const next = await prepareNextCa(dir, options());
    await expect(prepareNextCa(dir, options())).rejects.toThrow(/already prepared/);
    let set = await load();
    expect(set.active.name).toBe(first.name);
    expect(set.published.map((each) => each.state)).toEqual(["active", "next"]);
    expect(set.roots).toHaveLength(2);
    sequences.push(await sequence());

    // Activation waits for the bundle refresh hint plus the replicas' reload period.
    clock.advance((PUBLISH_CA_BEFORE_ACTIVATE_SECONDS - 2) * 1000);
    await expect(activateNextCa(dir, options())).rejects.toThrow(RotationRefused);
    await expect(activateNextCa(dir, options())).rejects.toThrow(/published \d+ s ago.*wait until 310 s have passed \(--force overrides\)/);
    clock.advance(2000);
    const activated = await activateNextCa(dir, options());
    expect(activated).toMatchObject({ name: next.name, warnings: [] });
    set = await load();
    expect(set.active.name).toBe(next.name);
    expect(set.published.map((each) => [each.name, each.state])).toEqual([[next.name, "active"], [first.name, "previous"]]);
    expect(set.roots).toHaveLength(2);
    sequences.push(await sequence());
    const document = await readCaSet(dir);
    expect(document.cas[first.name]?.deactivated_at).toBe(new Date(clock.now()).toISOString());

    // Retirement waits for the old CA's last SVID: deactivation + lifetime cap + margin.
    await expect(retireCa(dir, next.name, { ...options(), maxSvidLifetimeSeconds: SVID_LIFETIME })).rejects.toThrow(/is the active CA/);
    clock.advance((SVID_LIFETIME + CA_RETIRE_MARGIN_SECONDS - 1) * 1000);
    await expect(retireCa(dir, first.name, { ...options(), maxSvidLifetimeSeconds: SVID_LIFETIME })).rejects.toThrow(/stopped signing \d+ s ago; SVIDs it signed may live 3600 s \(\+300 s margin\): wait 1 s more/);
    clock.advance(1000);
    await retireCa(dir, first.name, { ...options(), maxSvidLifetimeSeconds: SVID_LIFETIME });
    set = await load();
    expect(set.published.map((each) => each.name)).toEqual([next.name]);
    expect(set.roots).toHaveLength(1);
    await expect(stat(join(dir, `${first.name}.key`))).rejects.toThrow(/ENOENT/);
    sequences.push(await sequence());
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
    expect(new Set(sequences).size).toBe(sequences.length);
    expect((await listCas(dir)).map((each) => each.state)).toEqual(["active"]);
  });

  it("--force overrides a refused check and says what it overrode", async () => {
    await initCaSet(dir, options());
    await prepareNextCa(dir, options());
    const forced = await activateNextCa(dir, { ...options(), force: true });
    expect(forced.warnings).toEqual([expect.stringMatching(/^forced: CA .* was published 0 s ago/)]);
  });

  it("a prepared CA withdrawn before it signs goes at once, and the sequence does not go down", async () => {
    await initCaSet(dir, options());
    clock.advance(5000);
    const next = await prepareNextCa(dir, options());
    const withNext = await sequence();
    const retired = await retireCa(dir, next.name, { ...options(), maxSvidLifetimeSeconds: SVID_LIFETIME });
    expect(retired.warnings).toEqual([]);
    expect(await sequence()).toBeGreaterThan(withNext);
  });

  it("init adopts the development CA in place, continuing its SPIFFE sequence", async () => {
    await ensureDevCa(keysDir, TRUST_DOMAIN, new Date(clock.now()));
    const legacy = spiffeBundle(singleCaSet(await loadDevCa(keysDir, TRUST_DOMAIN, new Date(clock.now()))), [], 0).spiffe_sequence;
    const adopted = await initCaSet(dir, options());
    expect(adopted.name).toBe("ca");
    expect((await readCaSet(dir)).cas.ca).toMatchObject({ certificate: "ca.pem", key: "ca.key" });
    expect(await sequence()).toBe(legacy + 1);
  });

  it("init takes the static CA's files (BROKER_CA_CERT/KEY) into the folder, the key 0600", async () => {
    const paths = { dir: join(keysDir, "static"), certificate: join(keysDir, "static", "ca.pem"), key: join(keysDir, "static", "ca.key") };
    await createRootCa(paths, TRUST_DOMAIN, new Date(clock.now()), { commonName: "static root", days: 30 });
    const from = { certificatePem: await readFile(paths.certificate, "utf8"), key: await readFile(paths.key, "utf8") };
    const adopted = await initCaSet(dir, { ...options(), from });
    expect((await stat(join(dir, `${adopted.name}.key`))).mode & 0o777).toBe(0o600);
    expect((await load()).active.ca.certificate.subject).toMatch(/static root/);
  });

  it("refuses an imported CA that does not load: wrong key, another trust domain", async () => {
    await initCaSet(dir, options());
    const other = { dir: join(keysDir, "o"), certificate: join(keysDir, "o", "ca.pem"), key: join(keysDir, "o", "ca.key") };
    await createRootCa(other, "other.test", new Date(clock.now()), { commonName: "other", days: 30 });
    const certificatePem = await readFile(other.certificate, "utf8");
    await expect(prepareNextCa(dir, { ...options(), from: { certificatePem, key: await readFile(other.key, "utf8") } })).rejects.toThrow(/names spiffe:\/\/other\.test/);
    const mine = (await readCaSet(dir)).active;
    await expect(prepareNextCa(dir, { ...options(), trustDomain: "other.test", from: { certificatePem, key: await readFile(join(dir, `${mine}.key`), "utf8") } })).rejects.toThrow(/does not match/);
    expect((await readCaSet(dir)).published).toEqual([]);
  });

  it("imports intermediates from the operator's PKI with their chain; two under one upstream root publish that root once", async () => {
    const pki = await scratch();
    try {
      const run = async (args: string[]) => expect((await openssl(args, pki.dir)).code).toBe(0);
      const p256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
      await run(["req", "-x509", ...p256, "-keyout", "root.key", "-subj", "/O=upstream/CN=root", "-days", "30", "-out", "root.pem"]);
      await pki.write("ca.cnf", `[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n`);
      for (const name of ["int1", "int2"]) {
        await run(["req", "-new", ...p256, "-keyout", `${name}.key`, "-subj", `/O=${TRUST_DOMAIN}/CN=${name}`, "-out", `${name}.csr`]);
        await run(["x509", "-req", "-in", `${name}.csr`, "-CA", "root.pem", "-CAkey", "root.key", "-CAcreateserial", "-days", "10", "-extfile", "ca.cnf", "-extensions", "ca", "-out", `${name}.pem`]);
      }
      // openssl dated the certificates by the wall clock, after this test's clock was set: move it past them.
      clock = new ManualClock(Date.now() + 1000);
      const imported = async (name: string) => ({ certificatePem: await readFile(join(pki.dir, `${name}.pem`), "utf8"), key: await readFile(join(pki.dir, `${name}.key`), "utf8"), chainPem: await readFile(join(pki.dir, "root.pem"), "utf8") });
      const first = await initCaSet(dir, { ...options(), from: await imported("int1") });
      clock.advance(1000);
      const second = await prepareNextCa(dir, { ...options(), from: await imported("int2") });
      expect((await readCaSet(dir)).cas[second.name]).toMatchObject({ chain: `${second.name}-chain.pem` });
      const set = await load();
      expect(set.published.map((each) => [each.name, each.ca.certificate.subject])).toEqual([[first.name, `O=${TRUST_DOMAIN}, CN=int1`], [second.name, `O=${TRUST_DOMAIN}, CN=int2`]]);
      expect(set.roots.map((root) => root.subject)).toEqual(["O=upstream, CN=root"]);
    } finally {
      await pki.close();
    }
  });

  it("a pkcs11: key without a token configured fails with a clear error", async () => {
    const first = await initCaSet(dir, options());
    const document = await readCaSet(dir);
    await writeFile(join(dir, "ca-set.json"), JSON.stringify({ ...document, cas: { [first.name]: { ...document.cas[first.name], key: "pkcs11:object=broker-ca-1" } } }));
    await expect(load()).rejects.toThrow(/CA .*: its key pkcs11:object=broker-ca-1 is in a PKCS#11 token, but no token is configured/);
  });
});

describe("the CA set store", () => {
  it("follows the manifest; a broken folder keeps the CAs in force and says why", async () => {
    await initCaSet(dir, options());
    const logged: string[] = [];
    const log = { info: () => undefined, warn: (_: object, message: string) => void logged.push(message), error: (fields: object, message: string) => void logged.push(`${message}: ${JSON.stringify(fields)}`), debug: () => undefined };
    const store = await CaSetStore.load(dir, { trustDomain: TRUST_DOMAIN, clock, log });
    const before = store.current();
    expect(await store.reload()).toMatchObject({ ok: true, changed: false });
    expect(store.current()).toBe(before);
    const next = await prepareNextCa(dir, options());
    expect(await store.reload()).toMatchObject({ ok: true, changed: true, published: [before.active.name, next.name] });
    const good = store.current();
    await rm(join(dir, `${next.name}.pem`));
    await writeFile(join(dir, "ca-set.json"), (await readFile(join(dir, "ca-set.json"), "utf8")).replace('"revision"', '"revision" '));
    expect(await store.reload()).toMatchObject({ ok: false, reason: expect.stringMatching(/CA ca-.*ENOENT/) });
    expect(store.current()).toBe(good);
    expect(logged.join("\n")).toMatch(/CA set not reloaded: keeping the CAs in force/);
  });

  it("names the CAs expiring within the warning horizon", async () => {
    await initCaSet(dir, { ...options(), root: { days: 20 } });
    const set = await load();
    const now = Math.floor(clock.now() / 1000);
    expect(expiringCas(set, now, 30 * 86_400)).toEqual([expect.objectContaining({ name: set.active.name, state: "active" })]);
    expect(expiringCas(set, now, 10 * 86_400)).toEqual([]);
  });
});
