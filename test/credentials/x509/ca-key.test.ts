/**
 * The CaKey port: a file key keeps its private half to itself, and everything that signs with a
 * CA (the self-signed root, SVIDs, the CRL) goes through `sign(tbs)`. Proved with a key held
 * outside the port's file implementation (as a token's would be), counting its signatures, for
 * each supported algorithm, with the real openssl as the judge.
 */
import { createPrivateKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { caKeyOf, caSigningAlgorithmOf, digestOf, fileCaKey, type CaKey } from "../../../src/credentials/x509/ca-key.js";
import { loadCertificateAuthority, selfSignedRoot } from "../../../src/credentials/x509/ca-store.js";
import { signCrl } from "../../../src/credentials/x509/crl.js";
import { signSvid } from "../../../src/credentials/x509/sign-svid.js";
import { svidSigningProfile } from "../../../src/credentials/x509/svid-signing-profile.js";
import { svidTemplate } from "../../../src/credentials/x509/svid-template.js";
import { openssl, scratch, TRUST_DOMAIN } from "../../support/svid-harness.js";

/** A CaKey whose private key lives elsewhere (like a token's): it only answers `sign`, and counts. */
function remoteKey(privateKey: KeyObject): CaKey & { readonly signatures: () => number } {
  const file = caKeyOf(privateKey);
  let count = 0;
  return {
    publicKey: file.publicKey,
    signingAlgorithm: file.signingAlgorithm,
    custody: "pkcs11",
    signatures: () => count,
    sign: async (tbs) => {
      count++;
      return sign(digestOf(file.signingAlgorithm), tbs, privateKey);
    },
  };
}

const PEM_CRL = (der: Buffer) => `-----BEGIN X509 CRL-----\n${der.toString("base64").match(/.{1,64}/g)?.join("\n")}\n-----END X509 CRL-----\n`;

let tmp: Awaited<ReturnType<typeof scratch>>;
beforeAll(async () => {
  tmp = await scratch();
});
afterAll(async () => {
  await tmp?.close();
});

describe("the file CaKey", () => {
  it("signs DER ECDSA-Sig-Value (X.509's form) and PKCS#1 v1.5, and keeps the private key out of reach", async () => {
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const key = fileCaKey(ec.privateKey.export({ format: "pem", type: "pkcs8" }).toString());
    const tbs = Buffer.from("to be signed");
    const signature = await key.sign(tbs);
    expect(signature[0]).toBe(0x30);
    expect(verify("sha256", tbs, ec.publicKey, signature)).toBe(true);
    expect(key.custody).toBe("file");
    expect(JSON.stringify(Object.values(key).map(String))).not.toMatch(/PRIVATE/);
    expect(Object.values(key).some((value) => (value as KeyObject | undefined)?.type === "private")).toBe(false);
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const rsaKey = caKeyOf(rsa.privateKey);
    expect(rsaKey.signingAlgorithm).toEqual({ name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" });
    expect(verify("sha256", tbs, rsa.publicKey, await rsaKey.sign(tbs))).toBe(true);
  });

  it("accepts P-256, P-384 and RSA ≥ 2048 only", () => {
    expect(caSigningAlgorithmOf(generateKeyPairSync("ec", { namedCurve: "P-384" }).publicKey)).toEqual({ name: "ECDSA", hash: "SHA-384" });
    expect(() => caSigningAlgorithmOf(generateKeyPairSync("ec", { namedCurve: "secp256k1" }).publicKey)).toThrow(/secp256k1 is not supported/);
    expect(() => caSigningAlgorithmOf(generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey)).toThrow(/at least 2048/);
    expect(() => caSigningAlgorithmOf(generateKeyPairSync("ed25519").publicKey)).toThrow(/ed25519 keys are not supported/);
  });
});

describe.each<[string, () => KeyObject]>([
  ["EC P-256", () => generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey],
  ["EC P-384", () => generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey],
  ["RSA-2048", () => generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey],
])("a %s CA key behind the port", (name, generate) => {
  it("signs the root, an SVID and the CRL only through sign(tbs); openssl verifies all three", async () => {
    const key = remoteKey(generate());
    const now = new Date();
    const root = await selfSignedRoot(key, TRUST_DOMAIN, now, { commonName: `port root ${name}`, days: 2 });
    const ca = await loadCertificateAuthority({ certificatePem: root.toString("pem"), key, chainPem: undefined, trustDomain: TRUST_DOMAIN, now });
    const workload = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "der", type: "spki" });
    const template = svidTemplate({ spiffeId: `spiffe://${TRUST_DOMAIN}/w`, dnsNames: [], keyType: "ec", now: Math.floor(now.getTime() / 1000), lifetimeSeconds: 600, caNotAfter: ca.notAfter });
    const svid = await signSvid(svidSigningProfile(ca), template, workload);
    const crl = await signCrl(ca, [{ serial: template.serial, revokedAt: Math.floor(now.getTime() / 1000) }], now.getTime(), 300);
    expect(key.signatures()).toBe(3);

    await tmp.write("root.pem", root.toString("pem"));
    await tmp.write("svid.pem", `-----BEGIN CERTIFICATE-----\n${svid.toString("base64")}\n-----END CERTIFICATE-----\n`);
    await tmp.write("crl.pem", PEM_CRL(Buffer.from(crl.rawData)));
    const rootCheck = await openssl(["verify", "-check_ss_sig", "-CAfile", "root.pem", "root.pem"], tmp.dir);
    expect(rootCheck.stdout).toMatch(/root\.pem: OK/);
    expect((await openssl(["verify", "-CAfile", "root.pem", "svid.pem"], tmp.dir)).stdout).toMatch(/svid\.pem: OK/);
    const crlCheck = await openssl(["crl", "-in", "crl.pem", "-CAfile", "root.pem", "-noout"], tmp.dir);
    expect(crlCheck.stdout + crlCheck.stderr).toMatch(/verify OK/);
    const revoked = await openssl(["verify", "-crl_check", "-CAfile", "root.pem", "-CRLfile", "crl.pem", "svid.pem"], tmp.dir);
    expect(revoked.stdout + revoked.stderr).toMatch(/certificate revoked/);
  }, 30_000);
});

describe("key and certificate", () => {
  it("are matched by public key: a CA whose key is another is refused", async () => {
    const now = new Date();
    const root = await selfSignedRoot(caKeyOf(createPrivateKey(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }))), TRUST_DOMAIN, now, { commonName: "a", days: 1 });
    const other = remoteKey(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey);
    await expect(loadCertificateAuthority({ certificatePem: root.toString("pem"), key: other, chainPem: undefined, trustDomain: TRUST_DOMAIN, now })).rejects.toThrow(/CA key does not match the CA certificate/);
  });
});
