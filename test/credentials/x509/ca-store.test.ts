/**
 * The CA: a development root generated per the spec, and a production intermediate with its chain
 * loaded only when the key matches, the certificate is a CA and the chain reaches a root.
 */
import { X509Certificate } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { devCaPaths, ensureDevCa, loadCertificateAuthority } from "../../../src/credentials/x509/ca-store.js";
import { makeCsr, openssl, scratch, svidHarness, TRUST_DOMAIN } from "../../support/svid-harness.js";

let tmp: Awaited<ReturnType<typeof scratch>>;
const now = () => new Date();

async function ok(args: string[]): Promise<void> {
  const result = await openssl(args, tmp.dir);
  if (result.code !== 0) throw new Error(`openssl ${args.join(" ")}: ${result.stderr}`);
}

const read = (name: string) => readFile(join(tmp.dir, name), "utf8");

beforeAll(async () => {
  tmp = await scratch();
  const p256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  await ok(["req", "-x509", ...p256, "-keyout", "root.key", "-subj", "/O=upstream/CN=root", "-days", "30", "-out", "root.pem"]);
  await ok(["req", "-x509", ...p256, "-keyout", "root2.key", "-subj", "/O=upstream/CN=another root", "-days", "30", "-out", "root2.pem"]);
  await tmp.write("ca.cnf", `[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectAltName=URI:spiffe://${TRUST_DOMAIN}\nsubjectKeyIdentifier=hash\n[other]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectAltName=URI:spiffe://elsewhere.test\n[nocrl]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n[leaf]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n`);
  for (const [name, section] of [["int", "ca"], ["other", "other"], ["nocrl", "nocrl"], ["leaf", "leaf"]] as const) {
    await ok(["req", "-new", ...p256, "-keyout", `${name}.key`, "-subj", `/O=${TRUST_DOMAIN}/CN=${name}`, "-out", `${name}.csr`]);
    await ok(["x509", "-req", "-in", `${name}.csr`, "-CA", "root.pem", "-CAkey", "root.key", "-CAcreateserial", "-days", "10", "-extfile", "ca.cnf", "-extensions", section, "-out", `${name}.pem`]);
  }
});
afterAll(async () => {
  await tmp?.close();
});

describe("the development root", () => {
  it("is generated once, EC P-256, key mode 0600, with the spec's CA extensions and the trust domain's SPIFFE ID", async () => {
    const keysDir = join(tmp.dir, "keys");
    expect(await ensureDevCa(keysDir, TRUST_DOMAIN, now())).toBe(true);
    expect(await ensureDevCa(keysDir, TRUST_DOMAIN, now())).toBe(false);
    const paths = devCaPaths(keysDir);
    expect((await stat(paths.key)).mode & 0o777).toBe(0o600);
    const root = new X509Certificate(await readFile(paths.certificate));
    expect(root.ca).toBe(true);
    expect(root.subjectAltName).toBe(`URI:spiffe://${TRUST_DOMAIN}`);
    expect(root.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    const text = (await openssl(["x509", "-in", paths.certificate, "-noout", "-text"])).stdout;
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
  });
});

describe("a production intermediate", () => {
  it("loads with its chain; SVIDs carry the intermediate and verify up to the upstream root", async () => {
    const ca = await loadCertificateAuthority({ certificatePem: await read("int.pem"), keyPem: await read("int.key"), chainPem: await read("root.pem"), trustDomain: TRUST_DOMAIN, now: now() });
    expect(ca.roots.map((root) => root.subject)).toEqual(["O=upstream, CN=root"]);
    expect(ca.intermediates.map((each) => each.subject)).toEqual([`O=${TRUST_DOMAIN}, CN=int`]);
    const h = await svidHarness({ ca });
    try {
      const issued = await h.request("ledger", (await makeCsr(tmp.dir)).pem);
      expect(issued.chainPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
      await tmp.write("chain.pem", issued.chainPem);
      await tmp.write("upstream-bundle.pem", issued.bundlePem);
      const verified = await openssl(["verify", "-CAfile", "upstream-bundle.pem", "-untrusted", "chain.pem", "chain.pem"], tmp.dir);
      expect(verified.stdout).toContain("chain.pem: OK");
    } finally {
      await h.close();
    }
  });

  it.each([
    ["a key that does not match the certificate", { cert: "int.pem", key: "other.key", chain: "root.pem" }, /does not match/],
    ["a certificate that is not a CA", { cert: "leaf.pem", key: "leaf.key", chain: "root.pem" }, /not a CA/],
    ["a CA that may not sign CRLs", { cert: "nocrl.pem", key: "nocrl.key", chain: "root.pem" }, /keyCertSign, cRLSign/],
    ["a chain that does not reach a self-signed root", { cert: "int.pem", key: "int.key", chain: undefined }, /self-signed upstream root/],
    ["a CA of another trust domain", { cert: "other.pem", key: "other.key", chain: "root.pem" }, /not the trust domain/],
    ["a chain whose certificate did not issue the CA", { cert: "int.pem", key: "int.key", chain: "root2.pem" }, /not issued and signed by the next/],
  ])("refuses %s", async (_name, files, reason) => {
    const load = async () =>
      loadCertificateAuthority({
        certificatePem: await read(files.cert),
        keyPem: await read(files.key),
        chainPem: files.chain === undefined ? undefined : await read(files.chain),
        trustDomain: TRUST_DOMAIN,
        now: now(),
      });
    await expect(load()).rejects.toThrow(reason);
  });

  it("refuses a CA that is not valid yet or any more", async () => {
    const future = new Date(Date.now() + 60 * 86_400_000);
    await expect(
      loadCertificateAuthority({ certificatePem: await read("int.pem"), keyPem: await read("int.key"), chainPem: await read("root.pem"), trustDomain: TRUST_DOMAIN, now: future }),
    ).rejects.toThrow(/not valid now/);
  });
});
