/**
 * `broker ca request` → the operator's PKI signs → `--prepare --certificate --key --chain`: the
 * request is signed through the CaKey port (a file key here, and a key held outside the file
 * implementation), openssl verifies it and signs it as an intermediate copying the requested
 * extensions, and the result is accepted as the next CA.
 */
import { generateKeyPairSync, sign } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { caKeyOf, digestOf, type CaKey } from "../../../src/credentials/x509/ca-key.js";
import { initCaSet, prepareNextCa } from "../../../src/credentials/x509/ca-rotation.js";
import { writeCaRequest } from "../../../src/credentials/x509/ca-request.js";
import { loadCaSet } from "../../../src/credentials/x509/ca-set.js";
import { ManualClock } from "../../../src/lib/clock.js";
import { openssl, scratch, TRUST_DOMAIN } from "../../support/svid-harness.js";

let pki: Awaited<ReturnType<typeof scratch>>;
let keysDir: string;
const clock = new ManualClock(Date.now());
const run = async (args: string[]) => {
  const result = await openssl(args, pki.dir);
  expect(result.code, result.stderr).toBe(0);
  return result.stdout + result.stderr;
};

beforeAll(async () => {
  pki = await scratch();
  keysDir = await mkdtemp(join(tmpdir(), "ca-request-"));
  await run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "root.key", "-subj", "/O=upstream/CN=root", "-days", "30", "-out", "root.pem"]);
});
afterAll(async () => {
  await pki?.close();
  await rm(keysDir, { recursive: true, force: true });
});

/** What an operator's PKI does: check the request, sign it as a CA with the extensions it asks for. */
async function signAsIntermediate(csr: string, out: string): Promise<string> {
  expect(await run(["req", "-in", csr, "-verify", "-noout"])).toMatch(/verify OK|Certificate request self-signature verify OK/);
  await run(["x509", "-req", "-in", csr, "-CA", "root.pem", "-CAkey", "root.key", "-CAcreateserial", "-days", "10", "-copy_extensions", "copyall", "-out", out]);
  return readFile(join(pki.dir, out), "utf8");
}

describe("broker ca request", () => {
  it("writes a new key (0600) and a request openssl verifies; the signed intermediate is accepted as the next CA", async () => {
    const dir = join(keysDir, "ca");
    await initCaSet(dir, { clock, trustDomain: TRUST_DOMAIN });
    const written = await writeCaRequest(pki.dir, TRUST_DOMAIN, {}, clock);
    expect((await stat(written.key ?? "")).mode & 0o777).toBe(0o600);
    const text = await run(["req", "-in", written.csr, "-noout", "-text"]);
    expect(text).toMatch(/Subject: O\s?=\s?svid\.test, CN\s?=\s?credential broker intermediate CA/);
    expect(text).toMatch(/CA:TRUE/);
    expect(text).toMatch(/Certificate Sign, CRL Sign/);
    const certificatePem = await signAsIntermediate(written.csr, "int.pem");
    // openssl dated the signed certificate by the wall clock, after this test's clock was set: catch up.
    clock.advance(Math.max(0, Date.now() + 1000 - clock.now()));
    const next = await prepareNextCa(dir, { clock, trustDomain: TRUST_DOMAIN, from: { certificatePem, key: await readFile(written.key ?? "", "utf8"), chainPem: await readFile(join(pki.dir, "root.pem"), "utf8") } });
    const set = await loadCaSet(dir, { trustDomain: TRUST_DOMAIN, now: new Date(clock.now()) });
    expect(set.published.find((each) => each.name === next.name)?.ca.intermediates).toHaveLength(1);
  });

  it.each([
    ["EC P-384", () => generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey],
    ["RSA-2048", () => generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey],
  ])("asks for a %s key held behind the port (as a token's), signed only through sign(tbs)", async (_, generate) => {
    const privateKey = generate();
    const file = caKeyOf(privateKey);
    let signatures = 0;
    const remote: CaKey = { ...file, custody: "pkcs11", sign: async (tbs) => (signatures++, sign(digestOf(file.signingAlgorithm), tbs, privateKey)) };
    const written = await writeCaRequest(join(pki.dir, "token"), TRUST_DOMAIN, { tokenKey: "pkcs11:object=ca-next", resolveToken: async () => remote }, clock);
    expect(written).toMatchObject({ key: "pkcs11:object=ca-next", custody: "pkcs11" });
    expect(signatures).toBe(1);
    expect(await run(["req", "-in", written.csr, "-verify", "-noout"])).toMatch(/verify OK/);
  });

  it("without a token configured, a pkcs11: key is refused clearly", async () => {
    await expect(writeCaRequest(join(pki.dir, "none"), TRUST_DOMAIN, { tokenKey: "pkcs11:object=ca-next" }, clock)).rejects.toThrow(/pkcs11:object=ca-next is in a PKCS#11 token, but no token is configured/);
  });
});
