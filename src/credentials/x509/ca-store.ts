import { X509Certificate as NodeCertificate, generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../file-key-store.js";
import { caKeyOf, fileCaKey, sameCaPublicKey, type CaKey } from "./ca-key.js";
import { caKeySigning } from "./ca-key-webcrypto.js";
import { x509 } from "./x509.js";

/** The CA that signs X.509-SVIDs, with the chain above it. Immutable once loaded. */
export interface CertificateAuthority {
  readonly trustDomain: string;
  /** The certificate whose key signs SVIDs and CRLs: the development root, or a configured intermediate. */
  readonly certificate: x509.X509Certificate;
  readonly key: CaKey;
  /** Sent after the leaf: the signing certificate unless it is the root, then the chain up to (not including) the root. */
  readonly intermediates: readonly x509.X509Certificate[];
  /** Trust anchors for the bundle. */
  readonly roots: readonly x509.X509Certificate[];
  /** Earliest notAfter along the chain, epoch seconds: no SVID outlives it. */
  readonly notAfter: number;
}

/** The development CA's files under the keys folder. */
export function devCaPaths(keysDir: string) {
  const dir = join(keysDir, "ca");
  return { dir, certificate: join(dir, "ca.pem"), key: join(dir, "ca.key") };
}

const DEV_ROOT_DAYS = 365;
/** The development root's common name: how a production start recognises that certificate wherever it is put. */
export const DEV_ROOT_CA_COMMON_NAME = "credential broker development root CA";

/** Generates a development root CA for `trustDomain` into keys/ca/ unless one is there. True when it generated one. */
export async function ensureDevCa(keysDir: string, trustDomain: string, now: Date): Promise<boolean> {
  const paths = devCaPaths(keysDir);
  if (await exists(paths.certificate)) return false;
  await createRootCa(paths, trustDomain, now, { commonName: DEV_ROOT_CA_COMMON_NAME, days: DEV_ROOT_DAYS });
  return true;
}

/**
 * Writes a new self-signed root CA for `trustDomain` (EC P-256; key mode 0600): basicConstraints
 * CA critical, keyCertSign + cRLSign critical, the trust domain's SPIFFE ID as URI SAN. Refuses
 * to overwrite an existing certificate.
 */
export async function createRootCa(
  paths: { readonly dir: string; readonly certificate: string; readonly key: string },
  trustDomain: string,
  now: Date,
  options: { readonly commonName: string; readonly days: number },
): Promise<void> {
  if (await exists(paths.certificate)) throw new Error(`${paths.certificate} exists: refusing to overwrite a CA`);
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const certificate = await selfSignedRoot(caKeyOf(privateKey), trustDomain, now, options);
  await writeFileAtomic(paths.key, privateKey.export({ format: "pem", type: "pkcs8" }).toString(), 0o600);
  await writeFileAtomic(paths.certificate, `${certificate.toString("pem")}\n`, 0o644);
}

/**
 * A self-signed root certificate for `key`, signed through the CaKey port (so a token's key can
 * be a root as well as a file's): the extensions createRootCa describes.
 */
export async function selfSignedRoot(key: CaKey, trustDomain: string, now: Date, options: { readonly commonName: string; readonly days: number }): Promise<x509.X509Certificate> {
  const serial = randomBytes(16);
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x01;
  const signing = caKeySigning(key);
  const publicKey = new x509.PublicKey(key.publicKey.export({ format: "der", type: "spki" }));
  return x509.X509CertificateGenerator.create(
    {
      serialNumber: serial.toString("hex"),
      subject: [{ O: [trustDomain] }, { CN: [options.commonName] }],
      issuer: [{ O: [trustDomain] }, { CN: [options.commonName] }],
      notBefore: new Date(now.getTime() - 60_000),
      notAfter: new Date(now.getTime() + options.days * 86_400_000),
      publicKey,
      signingKey: signing.signingKey,
      signingAlgorithm: signing.signingAlgorithm,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        // Trust Domain and Bundle / X509-SVID §3.2: a signing certificate may carry its trust domain's SPIFFE ID.
        new x509.SubjectAlternativeNameExtension([{ type: "url", value: `spiffe://${trustDomain}` }], false),
        await x509.SubjectKeyIdentifierExtension.create(publicKey, false, signing.crypto),
      ],
    },
    signing.crypto,
  );
}

/** Loads the development CA from keys/ca/. */
export async function loadDevCa(keysDir: string, trustDomain: string, now: Date): Promise<CertificateAuthority> {
  const paths = devCaPaths(keysDir);
  return loadCertificateAuthority({
    certificatePem: await readFile(paths.certificate, "utf8"),
    keyPem: await readFile(paths.key, "utf8"),
    chainPem: undefined,
    trustDomain,
    now,
  });
}

/** True when keys/ca/ holds a development CA. */
export async function devCaExists(keysDir: string): Promise<boolean> {
  return exists(devCaPaths(keysDir).certificate);
}

/** A CA's files as read: its key as PEM (file custody) or already behind the port (a token's). */
export type CaMaterial = {
  readonly certificatePem: string;
  readonly chainPem: string | undefined;
  readonly trustDomain: string;
  readonly now: Date;
} & ({ readonly keyPem: string } | { readonly key: CaKey });

/**
 * Loads and checks a CA: the key matches the certificate; the certificate is a CA allowed to sign
 * certificates, valid now, and names no other trust domain; the chain links it, certificate by
 * certificate, to a self-signed root. Throws with the reason when any of that fails.
 */
export async function loadCertificateAuthority(input: CaMaterial): Promise<CertificateAuthority> {
  const [certificate, ...extra] = splitCertificates(input.certificatePem, "CA certificate");
  if (certificate === undefined || extra.length > 0) throw new Error("CA certificate: expected exactly one certificate");
  const chain = input.chainPem === undefined ? [] : splitCertificates(input.chainPem, "CA chain");
  const key = "key" in input ? input.key : fileCaKey(input.keyPem);

  const signer = new NodeCertificate(Buffer.from(certificate.rawData));
  if (!sameCaPublicKey(key, signer.publicKey)) throw new Error("CA key does not match the CA certificate");
  checkSigningCertificate(certificate, input.trustDomain, input.now, "CA certificate", true);

  // Walk up: each certificate must be issued and signed by the next; the last must be a self-signed root.
  const path = [certificate, ...chain];
  for (let index = 0; index < path.length; index++) {
    const current = new NodeCertificate(Buffer.from((path[index] as x509.X509Certificate).rawData));
    const next = path[index + 1];
    if (next === undefined) {
      if (!(current.checkIssued(current) && current.verify(current.publicKey))) {
        throw new Error("CA chain must end with the self-signed upstream root (BROKER_CA_CHAIN)");
      }
      break;
    }
    checkSigningCertificate(next, input.trustDomain, input.now, `CA chain certificate ${index + 1}`);
    const parent = new NodeCertificate(Buffer.from(next.rawData));
    if (!current.checkIssued(parent) || !current.verify(parent.publicKey)) {
      throw new Error(`CA chain: certificate ${index} is not issued and signed by the next one`);
    }
  }
  const root = path[path.length - 1] as x509.X509Certificate;
  const notAfter = Math.min(...path.map((each) => Math.floor(each.notAfter.getTime() / 1000)));
  return Object.freeze({
    trustDomain: input.trustDomain,
    certificate,
    key,
    intermediates: Object.freeze(path.slice(0, -1)),
    roots: Object.freeze([root]),
    notAfter,
  });
}

/**
 * The signing certificate must say keyCertSign and cRLSign (it signs SVIDs and CRLs); a certificate
 * further up may omit keyUsage (many upstream roots do), but may not exclude keyCertSign.
 */
function checkSigningCertificate(certificate: x509.X509Certificate, trustDomain: string, now: Date, label: string, signsHere = false): void {
  const constraints = certificate.getExtension(x509.BasicConstraintsExtension);
  if (!constraints?.ca) throw new Error(`${label} is not a CA (basicConstraints CA:TRUE is missing)`);
  const usage = certificate.getExtension(x509.KeyUsagesExtension);
  const needed = signsHere ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign : x509.KeyUsageFlags.keyCertSign;
  if ((usage === null && signsHere) || (usage !== null && (usage.usages & needed) !== needed)) {
    throw new Error(`${label} may not sign ${signsHere ? "certificates and CRLs (keyUsage keyCertSign, cRLSign)" : "certificates (keyUsage keyCertSign)"}`);
  }
  if (certificate.notBefore > now || certificate.notAfter <= now) {
    throw new Error(`${label} is not valid now (${certificate.notBefore.toISOString()} to ${certificate.notAfter.toISOString()})`);
  }
  // X509-SVID §3.2: a signing certificate's SPIFFE ID, if any, is its trust domain's own ID.
  const san = certificate.getExtension(x509.SubjectAlternativeNameExtension);
  for (const name of san?.names.items ?? []) {
    if (name.type === "url" && name.value.startsWith("spiffe://") && name.value !== `spiffe://${trustDomain}`) {
      throw new Error(`${label} names ${name.value}, not the trust domain spiffe://${trustDomain}`);
    }
  }
}

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function splitCertificates(text: string, label: string): x509.X509Certificate[] {
  const blocks = text.match(CERTIFICATE_BLOCK) ?? [];
  if (blocks.length === 0) throw new Error(`${label}: no PEM certificate found`);
  return blocks.map((block) => new x509.X509Certificate(block));
}


async function exists(path: string): Promise<boolean> {
  try {
    await readFile(path);
    return true;
  } catch {
    return false;
  }
}
