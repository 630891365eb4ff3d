import { createPrivateKey, type KeyObject } from "node:crypto";
import { subtle, type CryptoKey, type SignatureAlgorithm } from "./x509.js";

/** A CA private key as WebCrypto needs it, with the signature algorithm it signs with. */
export interface CaKey {
  readonly privateKey: CryptoKey;
  /** The node:crypto form, for comparing with the certificate's public key. */
  readonly keyObject: KeyObject;
  /** WebCrypto signature parameters: ECDSA with the curve's hash, or RSASSA-PKCS1-v1_5 SHA-256. */
  readonly signingAlgorithm: SignatureAlgorithm;
}

/**
 * Imports a CA private key (PEM: PKCS#8, SEC1 or PKCS#1). EC P-256/P-384 and RSA ≥ 2048 only:
 * what the SVIDs' relying parties are sure to verify.
 */
export async function importCaKey(pem: string): Promise<CaKey> {
  const keyObject = createPrivateKey(pem);
  const pkcs8 = keyObject.export({ format: "der", type: "pkcs8" });
  if (keyObject.asymmetricKeyType === "ec") {
    const curve = keyObject.asymmetricKeyDetails?.namedCurve;
    const params = curve === "prime256v1" ? { namedCurve: "P-256", hash: "SHA-256" } : curve === "secp384r1" ? { namedCurve: "P-384", hash: "SHA-384" } : undefined;
    if (params === undefined) throw new Error(`CA key: EC curve ${curve ?? "unknown"} is not supported (P-256 or P-384)`);
    const privateKey = await subtle.importKey("pkcs8", pkcs8, { name: "ECDSA", namedCurve: params.namedCurve }, false, ["sign"]);
    return { privateKey, keyObject, signingAlgorithm: { name: "ECDSA", hash: params.hash } };
  }
  if (keyObject.asymmetricKeyType === "rsa") {
    if ((keyObject.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new Error("CA key: RSA keys must have at least 2048 bits");
    const algorithm = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    const privateKey = await subtle.importKey("pkcs8", pkcs8, algorithm, false, ["sign"]);
    return { privateKey, keyObject, signingAlgorithm: algorithm };
  }
  throw new Error(`CA key: ${keyObject.asymmetricKeyType ?? "unknown"} keys are not supported (EC P-256/P-384 or RSA)`);
}
