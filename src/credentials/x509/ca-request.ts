import { webcrypto } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../../lib/atomic-file.js";
import type { Clock } from "../../lib/clock.js";
import type { CaKey } from "./ca-key.js";
import { caKeySigning } from "./ca-key-webcrypto.js";
import { freshCaKey, type CaKeyType, type TokenCaKeyGenerator } from "./ca-new-key.js";
import { noTokenConfigured, type TokenCaKeyResolver } from "./ca-set.js";
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

/** What `broker ca request` wrote, and where the key is: a PEM file beside the request, or a token's URI. */
export interface WrittenCaRequest {
  readonly csr: string;
  readonly key: string;
  readonly custody: "file" | "pkcs11";
}

/**
 * `broker ca request`: a new CA key and a certificate request for it (`<out>/<name>.csr`), the key
 * either a PEM file beside it (`<name>.key`, 0600) or, with `inToken`, generated inside the token
 * and labelled `<name>`; or, with `tokenKey` (a `pkcs11:` URI), a request for a key already
 * there. The operator's PKI signs it; `--prepare --certificate … --key …` brings the result in.
 */
export async function writeCaRequest(
  out: string,
  trustDomain: string,
  options: { commonName?: string; tokenKey?: string; resolveToken?: TokenCaKeyResolver; inToken?: TokenCaKeyGenerator; keyType?: CaKeyType },
  clock: Clock,
): Promise<WrittenCaRequest> {
  const stamp = new Date(clock.now()).toISOString().replace(/[-:]|\.\d+/g, "");
  const name = `ca-request-${stamp}`;
  await mkdir(out, { recursive: true, mode: 0o700 });
  const commonName = options.commonName ?? `credential broker intermediate CA ${stamp}`;
  const csr = join(out, `${name}.csr`);
  if (options.tokenKey !== undefined) {
    const key = await (options.resolveToken ?? noTokenConfigured)(options.tokenKey);
    await writeFileAtomic(csr, await caCertificateRequest(key, trustDomain, commonName), 0o644);
    return { csr, key: options.tokenKey, custody: "pkcs11" };
  }
  const made = await freshCaKey(options.keyType ?? "P-256", options.inToken);
  try {
    const request = await caCertificateRequest(made.key, trustDomain, commonName);
    const kept = await made.keep(name, out);
    await writeFileAtomic(csr, request, 0o644);
    return options.inToken === undefined ? { csr, key: join(out, kept), custody: "file" } : { csr, key: kept, custody: "pkcs11" };
  } catch (error) {
    await made.discard().catch(() => undefined);
    throw error;
  }
}
