/** A self-signed root CA made with @peculiar/x509 for tests that need CAs of several key types. */
import type { webcrypto } from "node:crypto";
import { loadCertificateAuthority, type CertificateAuthority } from "../../src/credentials/x509/ca-store.js";
import { subtle, x509 } from "../../src/credentials/x509/x509.js";
import { TRUST_DOMAIN } from "./svid-harness.js";

/** A self-signed root with @peculiar/x509, loaded as the broker loads a configured CA. */
export async function testRootCa(algorithm: webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams, withSki: boolean): Promise<CertificateAuthority> {
  const keys = (await subtle.generateKey(algorithm, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "7f01",
    name: [{ O: [TRUST_DOMAIN] }, { CN: ["test root ÿ"] }],
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 86_400_000),
    signingAlgorithm: algorithm,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      ...(withSki ? [await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)] : []),
    ],
  });
  const pkcs8 = Buffer.from(await subtle.exportKey("pkcs8", keys.privateKey)).toString("base64");
  return loadCertificateAuthority({
    certificatePem: certificate.toString("pem"),
    keyPem: `-----BEGIN PRIVATE KEY-----\n${pkcs8}\n-----END PRIVATE KEY-----\n`,
    chainPem: undefined,
    trustDomain: TRUST_DOMAIN,
    now: new Date(now),
  });
}
