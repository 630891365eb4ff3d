import { webcrypto } from "node:crypto";
import type { CaKey } from "./ca-key.js";
import { caKeySigning } from "./ca-key-webcrypto.js";
import { x509 } from "./x509.js";

const EC_CURVES: Readonly<Record<string, string>> = { prime256v1: "P-256", secp384r1: "P-384" };

/**
 * A PKCS#10 certificate request (RFC 2986) for a CA key, for an operator's PKI to sign as an
 * intermediate: subject O=<trust domain>, CN=`commonName`; requested extensions basicConstraints
 * CA:TRUE and keyUsage keyCertSign + cRLSign (both critical), URI SAN spiffe://<trust domain>:
 * what the broker checks when the signed certificate comes back (`broker ca rotate --prepare
 * --certificate`). Signed through the CaKey port, so a token's key can ask too. PEM.
 */
export async function caCertificateRequest(key: CaKey, trustDomain: string, commonName: string): Promise<string> {
  const signing = caKeySigning(key);
  const spki = key.publicKey.export({ format: "der", type: "spki" });
  const algorithm =
    key.signingAlgorithm.name === "ECDSA"
      ? { name: "ECDSA", namedCurve: EC_CURVES[key.publicKey.asymmetricKeyDetails?.namedCurve ?? ""] ?? "" }
      : { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  // The generator reads the public key as a CryptoKey (it exports its SPKI): a public one only.
  const publicKey = await webcrypto.subtle.importKey("spki", spki, algorithm, true, ["verify"]);
  const request = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      name: [{ O: [trustDomain] }, { CN: [commonName] }],
      keys: { publicKey, privateKey: signing.signingKey },
      signingAlgorithm: signing.signingAlgorithm,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        new x509.SubjectAlternativeNameExtension([{ type: "url", value: `spiffe://${trustDomain}` }], false),
      ],
    },
    signing.crypto,
  );
  return `${request.toString("pem")}\n`;
}
