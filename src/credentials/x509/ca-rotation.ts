import { randomBytes, X509Certificate } from "node:crypto";
import { mkdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../../lib/atomic-file.js";
import type { Clock } from "../../lib/clock.js";
import { isoNow, safetyCheck, secondsSince } from "../rotation-safety.js";
import { BUNDLE_REFRESH_HINT_SECONDS } from "./bundle.js";
import { fileCaKey, type CaKey } from "./ca-key.js";
import { freshCaKey, type CaKeyType, type TokenCaKeyDestroyer, type TokenCaKeyGenerator } from "./ca-new-key.js";
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
  /** Generates a new root's key inside the token (`--in-token`) rather than in a file. */
  readonly inToken?: TokenCaKeyGenerator;
}

/** What a step did, and any safety check that `force` overrode. */
export interface CaRotationResult {
  readonly name: string;
  /** The CA certificate's subject key identifier (hex). */
  readonly keyId: string;
  readonly subject: string;
  readonly notAfter: string;
  readonly warnings: readonly string[];
  /** What else the step did (a retired CA's token key destroyed). */
  readonly notes?: readonly string[];
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
  /** Default P-256. */
  readonly keyType?: CaKeyType;
}

/**
 * Creates the managed CA folder's ca-set.json with one active CA: `from` (the files
 * BROKER_CA_CERT/KEY/CHAIN named: copied in, key 0600), else the development CA already in the
 * folder (ca.pem, ca.key: kept where it is) unless a new key is asked for (`inToken`, a key
 * type), else a new self-signed root. Refuses when a manifest exists.
 */
export async function initCaSet(dir: string, options: CaRotationOptions & { from?: ImportedCa; root?: NewRoot }): Promise<CaRotationResult> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (await exists(join(dir, CA_SET_FILE))) throw new Error(`${join(dir, CA_SET_FILE)} exists: refusing to overwrite it (use broker ca rotate)`);
  return withCaSetLock(dir, async () => {
    const legacy = devCaPaths(join(dir, ".."));
    // A new key asked for (--in-token, --key-type) is a new root: the development CA's file key is not what was asked.
    const newKeyAsked = options.inToken !== undefined || options.root?.keyType !== undefined;
    const adoptLegacy = options.from === undefined && !newKeyAsked && legacy.dir === dir && (await exists(legacy.certificate)) && (await exists(legacy.key));
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
export async function retireCa(dir: string, name: string, options: CaRotationOptions & { maxSvidLifetimeSeconds: number; destroyTokenKey?: TokenCaKeyDestroyer }): Promise<CaRotationResult> {
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
    if (!isPkcs11Uri(record.key)) return result;
    const key = await retiredTokenKey(record.key, document, name, options.destroyTokenKey);
    return "note" in key ? { ...result, notes: [key.note] } : { ...result, warnings: [...result.warnings, key.warning] };
  });
}

/**
 * A retired CA's token key: kept by default (an operator's PKI may want it for audit, and a token
 * key cannot be brought back), or destroyed with `destroy` unless a CA that stays names it too.
 * Its manifest entry is gone either way; answers the line that says which.
 */
async function retiredTokenKey(uri: string, document: CaSetDocument, retired: string, destroy: TokenCaKeyDestroyer | undefined): Promise<{ note: string } | { warning: string }> {
  if (destroy === undefined) return { warning: `its key stays in the token (${uri}): destroy it there when no longer needed (--destroy-key destroys it on retire)` };
  const stillNamed = [document.active, ...document.published].filter((other) => other !== retired).map((other) => (document.cas[other] as CaRecord).key).filter(isPkcs11Uri);
  try {
    await destroy(uri, stillNamed);
    return { note: `its key was destroyed in the token (${uri})` };
  } catch (error) {
    return { warning: `its key stays in the token (${uri}), not destroyed: ${error instanceof Error ? error.message : String(error)}` };
  }
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

/**
 * Writes a new CA's files into the folder (a generated root, its key in a file or in the token;
 * or the imported CA) and checks it loads. A generated key is discarded when any step fails.
 */
async function addCa(dir: string, options: CaRotationOptions, from: ImportedCa | undefined, root: NewRoot | undefined): Promise<AddedCa> {
  const now = new Date(options.clock.now());
  const made = from === undefined ? await freshCaKey(root?.keyType ?? "P-256", options.inToken) : undefined;
  try {
    let certificatePem: string;
    let key: CaKey;
    if (made !== undefined) {
      // A name of its own per root (its creation time): relying parties (openssl's -crl_check among
      // them) pick a CA's CRL by issuer name, so two CAs in one bundle must not share one.
      const commonName = root?.commonName ?? `credential broker root CA ${now.toISOString().replace(/[-:]|\.\d+/g, "")} ${randomBytes(3).toString("hex")}`;
      certificatePem = `${(await selfSignedRoot(made.key, options.trustDomain, now, { commonName, days: root?.days ?? 365 })).toString("pem")}\n`;
      key = made.key;
    } else {
      const imported = from as ImportedCa;
      certificatePem = imported.certificatePem;
      key = isPkcs11Uri(imported.key) ? await (options.tokenKey ?? noTokenConfigured)(imported.key) : fileCaKey(imported.key);
    }
    // Checked before anything is written: a CA that would not load never reaches the folder.
    const ca = await loadCertificateAuthority({ certificatePem, chainPem: from?.chainPem, trustDomain: options.trustDomain, now, key });
    const keyId = keyIdOf(ca);
    const name = `ca-${now.toISOString().replace(/[-:]|\.\d+/g, "")}-${keyId.slice(0, 8)}`;
    // The files (and the token key's label) first: a manifest naming them must never be visible before they exist.
    const keyRecord = made !== undefined ? await made.keep(name, dir) : await keepImportedKey(dir, name, (from as ImportedCa).key);
    if (from?.chainPem !== undefined) await writeFileAtomic(join(dir, `${name}-chain.pem`), from.chainPem, 0o644);
    await writeFileAtomic(join(dir, `${name}.pem`), certificatePem, 0o644);
    const record: CaRecord = { certificate: `${name}.pem`, key: keyRecord, ...(from?.chainPem === undefined ? {} : { chain: `${name}-chain.pem` }) };
    const rootNotBefore = Math.max(...ca.roots.map((each) => Math.floor(each.notBefore.getTime() / 1000)));
    return { name, record, rootNotBefore, result: { name, keyId, subject: ca.certificate.subject, notAfter: new Date(ca.notAfter * 1000).toISOString(), warnings: [] } };
  } catch (error) {
    await made?.discard().catch(() => undefined);
    throw error;
  }
}

/** An imported key: a token key stays named by its URI; a PEM is copied into the folder (0600). */
async function keepImportedKey(dir: string, name: string, key: string): Promise<string> {
  if (isPkcs11Uri(key)) return key;
  await writeFileAtomic(join(dir, `${name}.key`), key.endsWith("\n") ? key : `${key}\n`, 0o600);
  return `${name}.key`;
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
