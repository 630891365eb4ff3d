import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import type { CaKey } from "./ca-key.js";
import { CA_SET_FILE, isPkcs11Uri, parseCaSet, type CaRecord } from "./ca-set-document.js";
import { subjectPublicKeyBits } from "./der-reader.js";
import { loadCertificateAuthority, type CertificateAuthority } from "./ca-store.js";
import { x509 } from "./x509.js";

/** One CA of the set, by its manifest name. */
export interface NamedCa {
  readonly name: string;
  readonly ca: CertificateAuthority;
  /** The signing certificate's subject key identifier, lowercase hex: how /svid/crl?issuer= names it. */
  readonly keyId: string;
  /** active: signs SVIDs; next: published, not signing yet; previous: signed before, still published. */
  readonly state: "active" | "next" | "previous";
}

/**
 * The CAs in force, swapped as a whole: the active one signs SVIDs and its CRL is /svid/crl;
 * every published one (next, active, previous) has its roots in the trust bundle and its CRL
 * served until it is retired.
 */
export interface CaSet {
  readonly active: NamedCa;
  /** The active CA first, then the others in manifest order. */
  readonly published: readonly NamedCa[];
  /** Every published CA's roots, each once (by DER), the active CA's first. */
  readonly roots: readonly x509.X509Certificate[];
  /** ca-set.json `revision` (0 for a single CA from BROKER_CA_CERT or keys/ca/ca.pem). */
  readonly revision: number;
  /** The newest root notBefore ever published, epoch seconds (ca-set.json `root_sequence`, never lowered). */
  readonly rootSequence: number;
  /** Published CAs left out, with why (expired: their SVIDs cannot outlive them). */
  readonly skipped: readonly string[];
}

/** What serves the CA set to the use cases: fixed (one configured CA) or following ca-set.json. */
export interface CaSource {
  current(): CaSet;
  /** Re-reads the CAs now (SIGHUP); absent for a fixed set. */
  reload?(): Promise<unknown>;
  /** Stops following the files; absent for a fixed set. */
  close?(): void;
}

/** Turns a `pkcs11:` URI into a token key; without a token configured it throws a clear error. */
export type TokenCaKeyResolver = (uri: string) => Promise<CaKey>;

export const noTokenConfigured: TokenCaKeyResolver = (uri) =>
  Promise.reject(new Error(`its key ${uri} is in a PKCS#11 token, but no token is configured (BROKER_SIGNING_KEYS=pkcs11, BROKER_PKCS11_MODULE, BROKER_PKCS11_TOKEN)`));

/** A set of one CA (BROKER_CA_CERT/KEY/CHAIN or the development keys/ca/ca.pem): no rotation. */
export function singleCaSet(ca: CertificateAuthority, name = "ca"): CaSet {
  const active: NamedCa = Object.freeze({ name, ca, keyId: keyIdOf(ca), state: "active" });
  return Object.freeze({ active, published: Object.freeze([active]), roots: ca.roots, revision: 0, rootSequence: newestNotBefore(ca.roots), skipped: [] });
}

/** A fixed CaSource. */
export function fixedCaSource(set: CaSet): CaSource {
  return { current: () => set };
}

/**
 * Reads `<dir>/ca-set.json` (or uses `text`, already read) and loads every CA it names, each
 * through the same checks as a configured CA (loadCertificateAuthority). The active CA must
 * load; a published CA that has expired is left out (named in `skipped`); any other problem
 * throws with the file and the CA, so a caller keeps the set in force.
 */
export async function loadCaSet(dir: string, options: { trustDomain: string; now: Date; tokenKey?: TokenCaKeyResolver; text?: string }): Promise<CaSet> {
  const path = join(dir, CA_SET_FILE);
  const document = parseCaSet(options.text ?? (await readFile(path, "utf8")), path);
  const names = [document.active, ...document.published.filter((name) => name !== document.active)];
  const next = new Set(document.published.filter((name) => document.cas[name]?.created_at !== undefined && document.cas[name]?.activated_at === undefined));
  const published: NamedCa[] = [];
  const skipped: string[] = [];
  for (const name of names) {
    const record = document.cas[name] as CaRecord;
    let ca: CertificateAuthority;
    try {
      ca = await loadRecord(dir, record, options);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (name !== document.active && /not valid now/.test(reason) && (await expired(dir, record, options.now))) {
        skipped.push(`${name}: expired`);
        continue;
      }
      throw new Error(`${path}: CA ${name}: ${reason}`);
    }
    const state = name === document.active ? "active" : next.has(name) ? "next" : "previous";
    published.push(Object.freeze({ name, ca, keyId: keyIdOf(ca), state }));
  }
  const roots = uniqueByDer(published.flatMap((each) => each.ca.roots));
  return Object.freeze({
    active: published[0] as NamedCa,
    published: Object.freeze(published),
    roots: Object.freeze(roots),
    revision: document.revision ?? 0,
    rootSequence: Math.max(document.root_sequence ?? 0, newestNotBefore(roots)),
    skipped: Object.freeze(skipped),
  });
}

async function loadRecord(dir: string, record: CaRecord, options: { trustDomain: string; now: Date; tokenKey?: TokenCaKeyResolver }): Promise<CertificateAuthority> {
  const certificatePem = await readFile(inFolder(dir, record.certificate), "utf8");
  const chainPem = record.chain === undefined ? undefined : await readFile(inFolder(dir, record.chain), "utf8");
  const common = { certificatePem, chainPem, trustDomain: options.trustDomain, now: options.now };
  if (isPkcs11Uri(record.key)) return loadCertificateAuthority({ ...common, key: await (options.tokenKey ?? noTokenConfigured)(record.key) });
  return loadCertificateAuthority({ ...common, keyPem: await readFile(inFolder(dir, record.key), "utf8") });
}

async function expired(dir: string, record: CaRecord, now: Date): Promise<boolean> {
  const certificate = new x509.X509Certificate(await readFile(inFolder(dir, record.certificate), "utf8"));
  return certificate.notAfter <= now;
}

/** The manifest's file names are checked by the schema; this only joins (and refuses anything absolute). */
function inFolder(dir: string, name: string): string {
  if (isAbsolute(name) || name.includes("/")) throw new Error(`${name}: not a file name inside ${dir}`);
  return join(dir, name);
}

export function keyIdOf(ca: CertificateAuthority): string {
  const ski = ca.certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski !== null) return ski.keyId.toLowerCase();
  // RFC 5280 §4.2.1.2 method (1), as the SVIDs' authorityKeyIdentifier (svid-signing-profile.ts).
  return createHash("sha1").update(subjectPublicKeyBits(new Uint8Array(ca.certificate.publicKey.rawData))).digest("hex");
}

function uniqueByDer(certificates: readonly x509.X509Certificate[]): x509.X509Certificate[] {
  const seen = new Set<string>();
  return certificates.filter((certificate) => {
    const der = Buffer.from(certificate.rawData).toString("base64");
    if (seen.has(der)) return false;
    seen.add(der);
    return true;
  });
}

const newestNotBefore = (roots: readonly x509.X509Certificate[]): number => Math.max(0, ...roots.map((root) => Math.floor(root.notBefore.getTime() / 1000)));
