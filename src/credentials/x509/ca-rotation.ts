import { generateKeyPairSync, randomBytes, X509Certificate } from "node:crypto";
import { mkdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../../lib/atomic-file.js";
import type { Clock } from "../../lib/clock.js";
import { isoNow, safetyCheck, secondsSince } from "../rotation-safety.js";
import { BUNDLE_REFRESH_HINT_SECONDS } from "./bundle.js";
import { caKeyOf } from "./ca-key.js";
import { caCertificateRequest } from "./ca-request.js";
import { CA_SET_FILE, isPkcs11Uri, readCaSet, withCaSetLock, writeCaSet, type CaRecord, type CaSetDocument } from "./ca-set-document.js";
import { keyIdOf, loadCaSet, noTokenConfigured, type TokenCaKeyResolver } from "./ca-set.js";
import { devCaPaths, loadCertificateAuthority, selfSignedRoot } from "./ca-store.js";
import { x509 } from "./x509.js";

/**
 * CA rotation, the way signing keys rotate (key-rotation.ts), one safe step at a time, each a
 * single atomic rewrite of ca-set.json that every replica picks up by itself (CaSetStore):
 *
 * 1. prepare: a new CA's roots join the trust bundle, so relying parties fetch them before it signs;
 * 2. activate (≥ {@link PUBLISH_CA_BEFORE_ACTIVATE_SECONDS} later): it signs SVIDs; the old one stays published;
 * 3. retire (≥ SVID lifetime cap + {@link CA_RETIRE_MARGIN_SECONDS} after 2): the old CA leaves the
 *    bundle and its CRL stops being served: its last SVID has expired.
 */

/** How often every replica re-checks ca-set.json when no file event arrives (CaSetStore). */
export const CA_RELOAD_INTERVAL_MS = 10_000;
/** A prepared CA is in the bundle this long before it signs: the bundle's refresh hint and max-age + the replicas' reload period. */
export const PUBLISH_CA_BEFORE_ACTIVATE_SECONDS = BUNDLE_REFRESH_HINT_SECONDS + CA_RELOAD_INTERVAL_MS / 1000;
/** Beyond the SVID lifetime cap before a previous CA may go: replicas' reload lag and relying parties' clock skew. */
export const CA_RETIRE_MARGIN_SECONDS = 300;

export interface CaRotationOptions {
  readonly clock: Clock;
  readonly trustDomain: string;
  /** Override a refused safety check (the result carries a warning). */
  readonly force?: boolean;
  /** Loads a `pkcs11:` key; without one, such a CA is refused with a clear error. */
  readonly tokenKey?: TokenCaKeyResolver;
}

/** What a step did, and any safety check that `force` overrode. */
export interface CaRotationResult {
  readonly name: string;
  /** The CA certificate's subject key identifier (hex). */
  readonly keyId: string;
  readonly subject: string;
  readonly notAfter: string;
  readonly warnings: readonly string[];
}

/** A CA brought in from elsewhere: PEM texts, or a token key's URI in place of the key PEM. */
export interface ImportedCa {
  readonly certificatePem: string;
  readonly chainPem?: string;
  /** A PEM private key, or a `pkcs11:` URI. */
  readonly key: string;
}

/** Options of a generated root. */
export interface NewRoot {
  readonly days: number;
  readonly commonName?: string;
}

/**
 * Creates the managed CA folder's ca-set.json with one active CA: `from` (the files
 * BROKER_CA_CERT/KEY/CHAIN named: copied in, key 0600), else the development CA already in the
 * folder (ca.pem, ca.key: kept where it is), else a new self-signed root. Refuses when a
 * manifest exists.
 */
export async function initCaSet(dir: string, options: CaRotationOptions & { from?: ImportedCa; root?: NewRoot }): Promise<CaRotationResult> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (await exists(join(dir, CA_SET_FILE))) throw new Error(`${join(dir, CA_SET_FILE)} exists: refusing to overwrite it (use broker ca rotate)`);
  return withCaSetLock(dir, async () => {
    const legacy = devCaPaths(join(dir, ".."));
    const adoptLegacy = options.from === undefined && legacy.dir === dir && (await exists(legacy.certificate)) && (await exists(legacy.key));
    const added = adoptLegacy ? await describeFiles(dir, { certificate: "ca.pem", key: "ca.key" }, options) : await addCa(dir, options, options.from, options.root);
    const now = isoNow(options.clock);
    const document: CaSetDocument = { active: added.name, published: [], cas: { [added.name]: { ...added.record, created_at: now, activated_at: now } } };
    await writeCaSet(dir, document, added.rootNotBefore);
    return added.result;
  });
}

/** Step 1: adds the next CA (generated root or imported) and publishes it without letting it sign. */
export async function prepareNextCa(dir: string, options: CaRotationOptions & { from?: ImportedCa; root?: NewRoot }): Promise<CaRotationResult> {
  await requireManifest(dir);
  return withCaSetLock(dir, async () => {
    const document = await readManifest(dir);
    const pending = preparedCas(document);
    if (pending.length > 0) throw new Error(`CA ${pending.join(", ")} is already prepared: activate it (broker ca rotate --activate) or retire it first`);
    const added = await addCa(dir, options, options.from, options.root);
    if (Object.hasOwn(document.cas, added.name)) throw new Error(`CA ${added.name} is already in ${CA_SET_FILE}`);
    await writeCaSet(dir, { ...document, published: [...document.published, added.name], cas: { ...document.cas, [added.name]: { ...added.record, created_at: isoNow(options.clock) } } }, added.rootNotBefore);
    return added.result;
  });
}

/** Step 2: the prepared CA signs SVIDs from now on; the previous active CA stays published. */
export async function activateNextCa(dir: string, options: CaRotationOptions): Promise<CaRotationResult> {
  await requireManifest(dir);
  return withCaSetLock(dir, async () => {
    const document = await readManifest(dir);
    const pending = preparedCas(document);
    if (pending.length !== 1) throw new Error(pending.length === 0 ? "no prepared CA: run broker ca rotate --prepare first" : `several prepared CAs (${pending.join(", ")}): retire all but one`);
    const name = pending[0] as string;
    const record = document.cas[name] as CaRecord;
    const publishedFor = secondsSince(record.created_at, options.clock);
    const warnings = safetyCheck(
      options,
      publishedFor >= PUBLISH_CA_BEFORE_ACTIVATE_SECONDS,
      `CA ${name} was published ${Math.floor(publishedFor)} s ago; relying parties refresh the bundle every ${BUNDLE_REFRESH_HINT_SECONDS} s and replicas reload within ${CA_RELOAD_INTERVAL_MS / 1000} s: wait until ${PUBLISH_CA_BEFORE_ACTIVATE_SECONDS} s have passed`,
    );
    // Loads the new CA as the replicas will: a CA that would not load is refused before it is made active.
    const result = await describeRecord(dir, name, record, options, warnings);
    const now = isoNow(options.clock);
    const previous = document.active;
    const cas = { ...document.cas, [previous]: { ...(document.cas[previous] as CaRecord), deactivated_at: now }, [name]: { ...record, activated_at: now } };
    await writeCaSet(dir, { ...document, active: name, published: [...document.published.filter((other) => other !== name), previous], cas }, 0);
    return result;
  });
}

/** Step 3: removes a previous (or abandoned prepared) CA from the bundle and its CRL, and deletes its files. */
export async function retireCa(dir: string, name: string, options: CaRotationOptions & { maxSvidLifetimeSeconds: number }): Promise<CaRotationResult> {
  await requireManifest(dir);
  return withCaSetLock(dir, async () => {
    const document = await readManifest(dir);
    if (name === document.active) throw new Error(`CA ${name} is the active CA: activate another one first`);
    if (!document.published.includes(name)) throw new Error(`CA ${name} is not published (published: ${document.published.join(", ") || "none"})`);
    const record = document.cas[name] as CaRecord;
    const needed = options.maxSvidLifetimeSeconds + CA_RETIRE_MARGIN_SECONDS;
    let warnings: string[] = [];
    if (record.deactivated_at !== undefined) {
      const since = secondsSince(record.deactivated_at, options.clock);
      warnings = safetyCheck(options, since >= needed, `CA ${name} stopped signing ${Math.floor(since)} s ago; SVIDs it signed may live ${options.maxSvidLifetimeSeconds} s (+${CA_RETIRE_MARGIN_SECONDS} s margin): wait ${Math.ceil(needed - since)} s more`);
    } else if (record.activated_at !== undefined || record.created_at === undefined) {
      warnings = safetyCheck(options, false, `${CA_SET_FILE} does not say when CA ${name} stopped signing: cannot tell whether its last SVID has expired`);
    }
    const result = await describeRecord(dir, name, record, { ...options, tolerateInvalid: true }, warnings);
    await writeCaSet(dir, { ...document, published: document.published.filter((other) => other !== name) }, 0);
    for (const file of [record.certificate, record.chain, isPkcs11Uri(record.key) ? undefined : record.key]) {
      if (file !== undefined) await rm(join(dir, file), { force: true });
    }
    if (isPkcs11Uri(record.key)) return { ...result, warnings: [...result.warnings, `its key stays in the token (${record.key}): destroy it there when no longer needed`] };
    return result;
  });
}

/**
 * `broker ca request`: a new P-256 CA key (`<out>/<name>.key`, 0600) and a certificate request for
 * it (`<name>.csr`), or, with `tokenKey` (a `pkcs11:` URI), a request for that token key. The
 * operator's PKI signs it; `--prepare --certificate … --key …` brings the result in.
 */
export async function writeCaRequest(out: string, trustDomain: string, options: { commonName?: string; tokenKey?: string; resolveToken?: TokenCaKeyResolver }, clock: Clock): Promise<{ csr: string; key: string | undefined }> {
  const stamp = new Date(clock.now()).toISOString().replace(/[-:]|\.\d+/g, "");
  const name = `ca-request-${stamp}`;
  await mkdir(out, { recursive: true, mode: 0o700 });
  const commonName = options.commonName ?? `credential broker intermediate CA ${stamp}`;
  if (options.tokenKey !== undefined) {
    const key = await (options.resolveToken ?? noTokenConfigured)(options.tokenKey);
    const csr = join(out, `${name}.csr`);
    await writeFileAtomic(csr, await caCertificateRequest(key, trustDomain, commonName), 0o644);
    return { csr, key: undefined };
  }
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const key = join(out, `${name}.key`);
  const csr = join(out, `${name}.csr`);
  await writeFileAtomic(key, privateKey.export({ format: "pem", type: "pkcs8" }).toString(), 0o600);
  await writeFileAtomic(csr, await caCertificateRequest(caKeyOf(privateKey), trustDomain, commonName), 0o644);
  return { csr, key };
}

/** One line of `broker ca list`. */
export interface CaListing {
  readonly name: string;
  readonly state: "active" | "next" | "previous";
  readonly keyId: string;
  readonly subject: string;
  readonly notAfter: string;
  readonly key: string;
  readonly createdAt: string | undefined;
  readonly activatedAt: string | undefined;
  readonly deactivatedAt: string | undefined;
}

/** Describes every CA of the manifest (from its certificate, so a hand-edited manifest lists correctly). */
export async function listCas(dir: string): Promise<CaListing[]> {
  const document = await readManifest(dir);
  const next = new Set(preparedCas(document));
  const listing: CaListing[] = [];
  for (const name of [document.active, ...document.published]) {
    const record = document.cas[name] as CaRecord;
    const certificate = await readFile(join(dir, record.certificate), "utf8").then(
      (pem) => new X509Certificate(pem),
      () => undefined,
    );
    listing.push({
      name,
      state: name === document.active ? "active" : next.has(name) ? "next" : "previous",
      keyId: certificate === undefined ? "(missing certificate)" : await keyIdFromPem(join(dir, record.certificate)),
      subject: certificate?.subject.replace(/\n/g, ", ") ?? "(missing certificate)",
      notAfter: certificate === undefined ? "-" : new Date(certificate.validTo).toISOString(),
      key: isPkcs11Uri(record.key) ? record.key : "file",
      createdAt: record.created_at,
      activatedAt: record.activated_at,
      deactivatedAt: record.deactivated_at,
    });
  }
  return listing;
}

/** The CAs published but never active: recorded with a creation time and no activation. */
function preparedCas(document: CaSetDocument): string[] {
  return document.published.filter((name) => {
    const record = document.cas[name];
    return name !== document.active && record?.created_at !== undefined && record.activated_at === undefined;
  });
}

interface AddedCa {
  readonly name: string;
  readonly record: CaRecord;
  readonly rootNotBefore: number;
  readonly result: CaRotationResult;
}

/** Writes a new CA's files into the folder (generated root, or the imported PEMs) and checks it loads. */
async function addCa(dir: string, options: CaRotationOptions, from: ImportedCa | undefined, root: NewRoot | undefined): Promise<AddedCa> {
  const now = new Date(options.clock.now());
  let certificatePem: string;
  let keyText: string;
  if (from === undefined) {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    // A name of its own per root (its creation time): relying parties (openssl's -crl_check among
    // them) pick a CA's CRL by issuer name, so two CAs in one bundle must not share one.
    const commonName = root?.commonName ?? `credential broker root CA ${now.toISOString().replace(/[-:]|\.\d+/g, "")} ${randomBytes(3).toString("hex")}`;
    const certificate = await selfSignedRoot(caKeyOf(privateKey), options.trustDomain, now, { commonName, days: root?.days ?? 365 });
    certificatePem = `${certificate.toString("pem")}\n`;
    keyText = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
  } else {
    certificatePem = from.certificatePem;
    keyText = from.key;
  }
  // Checked before anything is written: a CA that would not load never reaches the folder.
  const common = { certificatePem, chainPem: from?.chainPem, trustDomain: options.trustDomain, now };
  const ca = isPkcs11Uri(keyText)
    ? await loadCertificateAuthority({ ...common, key: await (options.tokenKey ?? noTokenConfigured)(keyText) })
    : await loadCertificateAuthority({ ...common, keyPem: keyText });
  const keyId = keyIdOf(ca);
  const name = `ca-${now.toISOString().replace(/[-:]|\.\d+/g, "")}-${keyId.slice(0, 8)}`;
  const record: CaRecord = { certificate: `${name}.pem`, key: isPkcs11Uri(keyText) ? keyText : `${name}.key`, ...(from?.chainPem === undefined ? {} : { chain: `${name}-chain.pem` }) };
  // The files first: a manifest naming them must never be visible before they exist.
  if (!isPkcs11Uri(keyText)) await writeFileAtomic(join(dir, `${name}.key`), keyText.endsWith("\n") ? keyText : `${keyText}\n`, 0o600);
  if (from?.chainPem !== undefined) await writeFileAtomic(join(dir, `${name}-chain.pem`), from.chainPem, 0o644);
  await writeFileAtomic(join(dir, `${name}.pem`), certificatePem, 0o644);
  const rootNotBefore = Math.max(...ca.roots.map((each) => Math.floor(each.notBefore.getTime() / 1000)));
  return { name, record, rootNotBefore, result: { name, keyId, subject: ca.certificate.subject, notAfter: new Date(ca.notAfter * 1000).toISOString(), warnings: [] } };
}

/** The development CA already in the folder (ca.pem, ca.key), adopted where it is. */
async function describeFiles(dir: string, record: CaRecord, options: CaRotationOptions): Promise<AddedCa> {
  const result = await describeRecord(dir, "ca", record, options, []);
  const certificate = new X509Certificate(await readFile(join(dir, record.certificate), "utf8"));
  return { name: "ca", record, rootNotBefore: Math.floor(Date.parse(certificate.validFrom) / 1000), result };
}

async function describeRecord(dir: string, name: string, record: CaRecord, options: CaRotationOptions & { tolerateInvalid?: boolean }, warnings: readonly string[]): Promise<CaRotationResult> {
  const text = JSON.stringify({ active: name, published: [], cas: { [name]: record } });
  try {
    const set = await loadCaSet(dir, { trustDomain: options.trustDomain, now: new Date(options.clock.now()), text, ...(options.tokenKey ? { tokenKey: options.tokenKey } : {}) });
    const ca = set.active.ca;
    return { name, keyId: set.active.keyId, subject: ca.certificate.subject, notAfter: new Date(ca.notAfter * 1000).toISOString(), warnings };
  } catch (error) {
    if (!options.tolerateInvalid) throw error;
    return { name, keyId: "?", subject: "?", notAfter: "?", warnings };
  }
}

async function keyIdFromPem(path: string): Promise<string> {
  const certificate = new x509.X509Certificate(await readFile(path, "utf8"));
  return certificate.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId ?? "-";
}

async function readManifest(dir: string): Promise<CaSetDocument> {
  await requireManifest(dir);
  return readCaSet(dir);
}

async function requireManifest(dir: string): Promise<void> {
  if (!(await exists(join(dir, CA_SET_FILE)))) throw new Error(`no ${CA_SET_FILE} in ${dir}: run broker ca init first (docs/operations.md, "Rotate the CA")`);
}




async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
