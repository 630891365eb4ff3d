import { X509Certificate, type webcrypto } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { pemOf } from "../credentials/x509/pem.js";
import { subtle, x509 } from "../credentials/x509/x509.js";
import { writeFileAtomic } from "../lib/atomic-file.js";

/**
 * The client side of X.509-SVID issuance, for a workload's start-up (`broker svid`): read the
 * platform token from a file, generate a key pair here (the private key never leaves this
 * process), send a CSR to POST /svid/x509, check what comes back, and write svid.pem, svid.key
 * and bundle.pem atomically. With renewal it keeps doing so at half of each SVID's lifetime.
 * Never prints or logs the token or the private key.
 */

export const KEY_TYPES = ["ec-p256", "ec-p384", "rsa-2048"] as const;
export type KeyType = (typeof KEY_TYPES)[number];

/** File names in the output folder (those of spiffe-helper's usual configuration). */
const SVID_FILES = { certificate: "svid.pem", key: "svid.key", bundle: "bundle.pem" } as const;

export interface SvidRequest {
  /** Broker base URL, e.g. https://broker.example.com. */
  readonly broker: string;
  /** The platform token's file; read afresh for every request (the kubelet rotates it). */
  readonly tokenFile: string;
  readonly tokenType: string;
  readonly keyType: KeyType;
  readonly timeoutMs?: number;
}

/** An SVID that passed {@link verifySvidResponse}, with the private key it was issued for. */
export interface IssuedSvid {
  readonly spiffeId: string;
  readonly serial: string;
  /** The SVID first, then any intermediates (PEM). */
  readonly chainPem: string;
  /** The trust domain's roots (PEM). */
  readonly bundlePem: string;
  /** PKCS#8 PEM. */
  readonly keyPem: string;
  /** The leaf's notAfter, epoch milliseconds. */
  readonly notAfter: number;
}

export interface SvidDeps {
  readonly fetch: typeof fetch;
  /** Epoch milliseconds. */
  readonly now: () => number;
  /** Aborts an in-flight request (shutdown). */
  readonly signal?: AbortSignal;
}

/** A failure to report: the message never contains the token or a key. */
export class SvidFailure extends Error {
  override readonly name = "SvidFailure";
}

const svidResponse = z.object({
  spiffe_id: z.string().min(1),
  x509_svid: z.string().min(1),
  bundle: z.string().min(1),
  expires_at: z.number(),
  serial: z.string().min(1),
});
const errorResponse = z.object({ error: z.string(), error_description: z.string().optional() });

interface KeySpec {
  readonly generate: webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams;
  readonly sign: webcrypto.EcdsaParams | webcrypto.Algorithm;
}

/** Key types the broker accepts (docs/svid.md: EC P-256/P-384, RSA ≥ 2048), with their CSR signature. */
const KEY_SPECS: Record<KeyType, KeySpec> = {
  "ec-p256": { generate: { name: "ECDSA", namedCurve: "P-256" }, sign: { name: "ECDSA", hash: "SHA-256" } },
  "ec-p384": { generate: { name: "ECDSA", namedCurve: "P-384" }, sign: { name: "ECDSA", hash: "SHA-384" } },
  "rsa-2048": {
    generate: { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    sign: { name: "RSASSA-PKCS1-v1_5" },
  },
};

/** A fresh key pair and its CSR. */
export interface KeyAndCsr {
  readonly keyPem: string;
  /** DER SubjectPublicKeyInfo of the public key. */
  readonly spki: Buffer;
  readonly csrPem: string;
}

/**
 * Generates a key pair (WebCrypto of node:crypto) and a PKCS#10 request signed with it. The
 * request names nothing: an empty subject and no extensions, since the broker builds the
 * certificate from the policy's grant and refuses a CSR asking for anything it did not grant.
 */
export async function generateKeyAndCsr(keyType: KeyType): Promise<KeyAndCsr> {
  const spec = KEY_SPECS[keyType];
  const keys = await subtle.generateKey(spec.generate, true, ["sign", "verify"]);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ keys, signingAlgorithm: spec.sign });
  const pkcs8 = Buffer.from(await subtle.exportKey("pkcs8", keys.privateKey));
  const spki = Buffer.from(await subtle.exportKey("spki", keys.publicKey));
  return { keyPem: `${pemOf("PRIVATE KEY", pkcs8)}\n`, spki, csrPem: csr.toString("pem") };
}

/** One issuance: read the token, make a key and CSR, POST /svid/x509, verify the answer. */
export async function requestSvid(request: SvidRequest, deps: SvidDeps): Promise<IssuedSvid> {
  const broker = request.broker.replace(/\/+$/, "");
  const token = await readToken(request.tokenFile);
  const { keyPem, spki, csrPem } = await generateKeyAndCsr(request.keyType);
  const form = new URLSearchParams({ subject_token: token, subject_token_type: request.tokenType, csr: csrPem });
  let res: Response;
  try {
    res = await deps.fetch(`${broker}/svid/x509`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: form,
      signal: AbortSignal.any([AbortSignal.timeout(request.timeoutMs ?? 15_000), ...(deps.signal ? [deps.signal] : [])]),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    throw new SvidFailure(`POST ${broker}/svid/x509 failed: ${cause ?? (error instanceof Error ? error.message : String(error))}`);
  }
  const body = await readJson(res);
  if (!res.ok) {
    const problem = errorResponse.safeParse(body);
    throw new SvidFailure(
      problem.success
        ? `broker refused the SVID request (${res.status} ${problem.data.error})${problem.data.error_description ? `: ${problem.data.error_description}` : ""}`
        : `broker answered ${res.status} without an OAuth error`,
    );
  }
  const parsed = svidResponse.safeParse(body);
  if (!parsed.success) throw new SvidFailure("broker answered 200 without spiffe_id, x509_svid, bundle, expires_at and serial");
  const { notAfter } = verifySvidResponse(
    { spiffeId: parsed.data.spiffe_id, chainPem: parsed.data.x509_svid, bundlePem: parsed.data.bundle, serial: parsed.data.serial },
    spki,
    deps.now(),
  );
  return { spiffeId: parsed.data.spiffe_id, serial: parsed.data.serial, chainPem: parsed.data.x509_svid, bundlePem: parsed.data.bundle, keyPem, notAfter };
}

/**
 * Checks an answer before anything is written: the leaf carries our public key, exactly one URI
 * SAN and it is `spiffeId`, it is valid now and not a CA, its serial is the one announced, and
 * the chain links certificate by certificate (signature and issuer name) to a root of the bundle.
 */
function verifySvidResponse(
  answer: { readonly spiffeId: string; readonly chainPem: string; readonly bundlePem: string; readonly serial: string },
  spki: Buffer,
  nowMs: number,
): { notAfter: number } {
  const chain = parseCertificates(answer.chainPem, "x509_svid");
  const roots = parseCertificates(answer.bundlePem, "bundle");
  const leaf = chain[0];
  if (leaf === undefined) throw new SvidFailure("x509_svid holds no certificate");
  if (roots.length === 0) throw new SvidFailure("bundle holds no certificate");

  if (!Buffer.from(leaf.publicKey.export({ type: "spki", format: "der" })).equals(spki)) {
    throw new SvidFailure("the SVID does not carry the public key of the CSR");
  }
  if (leaf.ca) throw new SvidFailure("the SVID is a CA certificate");
  const uris = uriSans(leaf);
  if (uris.length !== 1 || uris[0] !== answer.spiffeId) {
    throw new SvidFailure(`the SVID's URI SANs (${uris.join(", ") || "none"}) are not exactly spiffe_id ${answer.spiffeId}`);
  }
  if (normalSerial(leaf.serialNumber) !== normalSerial(answer.serial)) throw new SvidFailure("the SVID's serial is not the announced one");
  const notBefore = Date.parse(leaf.validFrom);
  const notAfter = Date.parse(leaf.validTo);
  if (!(notAfter > nowMs)) throw new SvidFailure(`the SVID has already expired (${leaf.validTo})`);
  // The broker backdates notBefore 30 s; a minute more allows for this host's clock being ahead.
  if (!(notBefore <= nowMs + 60_000)) throw new SvidFailure(`the SVID is not valid yet (${leaf.validFrom})`);

  // Each certificate must be issued and signed by the next one, the last one by a bundle root.
  for (let index = 0; index < chain.length; index += 1) {
    const certificate = chain[index] as X509Certificate;
    const parent = chain[index + 1];
    if (parent !== undefined) {
      if (!parent.ca || !certificate.checkIssued(parent) || !certificate.verify(parent.publicKey)) {
        throw new SvidFailure(`certificate ${index} of x509_svid is not signed by certificate ${index + 1}`);
      }
      continue;
    }
    const anchored = roots.some((root) => root.ca && certificate.checkIssued(root) && certificate.verify(root.publicKey));
    if (!anchored) throw new SvidFailure("the SVID chain does not lead to a root of the returned bundle");
  }
  return { notAfter };
}

/**
 * Writes the SVID into `dir` (created when missing), each file atomically (a temporary file in
 * the same folder, renamed over the old one). The key goes first and the certificate last: a
 * reader that reloads when svid.pem changes always finds the key (and bundle) for it already there.
 */
export async function writeSvidFiles(dir: string, svid: IssuedSvid): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await writeFileAtomic(join(dir, SVID_FILES.key), svid.keyPem, 0o600);
  await writeFileAtomic(join(dir, SVID_FILES.bundle), ensureNewline(svid.bundlePem), 0o644);
  await writeFileAtomic(join(dir, SVID_FILES.certificate), ensureNewline(svid.chainPem), 0o644);
}

/** Jitter around the half-life: ±10%, so replicas started together do not renew together. */
const RENEWAL_JITTER = 0.1;
/** Retry delays after a failed renewal: 1 s doubling up to 30 s. */
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_CAP_MS = 30_000;

/**
 * Milliseconds from `receivedAt` until the renewal: half of the remaining lifetime (from when we
 * got it, not from its backdated notBefore), times 1 ± {@link RENEWAL_JITTER}; `random` in [0, 1).
 */
export function renewalDelayMs(receivedAt: number, notAfter: number, random: number): number {
  const half = Math.max(0, notAfter - receivedAt) / 2;
  return Math.round(half * (1 - RENEWAL_JITTER + 2 * RENEWAL_JITTER * random));
}

/** The wait before retry number `attempt` (1, 2, …): exponential, capped, never past `untilExpiry`. */
export function backoffMs(attempt: number, untilExpiry: number): number {
  const exponential = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt - 1, 30));
  return Math.max(0, Math.min(exponential, untilExpiry));
}

export interface RenewLoopDeps extends SvidDeps {
  /** Uniform in [0, 1). */
  readonly random: () => number;
  /** One line of progress (no secrets are ever passed to it). */
  readonly log: (line: string) => void;
  /** Aborted on SIGTERM/SIGINT: the loop stops waiting (or requesting) and returns. */
  readonly signal: AbortSignal;
}

/**
 * Keeps the SVID in `dir` fresh, starting from `current` (already written): sleeps until its
 * half-life (with jitter), issues a new one (a new key each time) and writes it; a failure is
 * retried with capped exponential backoff while the current SVID is still valid. Resolves when
 * `signal` aborts; rejects with {@link SvidFailure} once the current SVID expired unrenewed.
 */
export async function renewLoop(request: SvidRequest, dir: string, current: IssuedSvid, receivedAt: number, deps: RenewLoopDeps): Promise<void> {
  let svid = current;
  let wait = renewalDelayMs(receivedAt, svid.notAfter, deps.random());
  let attempt = 0;
  for (;;) {
    if (!(await sleep(wait, deps.signal))) return;
    try {
      const next = await requestSvid(request, deps);
      if (deps.signal.aborted) return;
      await writeSvidFiles(dir, next);
      const now = deps.now();
      svid = next;
      attempt = 0;
      wait = renewalDelayMs(now, svid.notAfter, deps.random());
      deps.log(`renewed ${svid.spiffeId}: serial ${svid.serial}, expires ${new Date(svid.notAfter).toISOString()}, next renewal in ${Math.round(wait / 1000)} s`);
    } catch (error) {
      if (deps.signal.aborted) return;
      const message = error instanceof Error ? error.message : String(error);
      const untilExpiry = svid.notAfter - deps.now();
      if (untilExpiry <= 0) {
        throw new SvidFailure(`the SVID (serial ${svid.serial}) expired at ${new Date(svid.notAfter).toISOString()} without a successful renewal; last error: ${message}`);
      }
      attempt += 1;
      wait = backoffMs(attempt, untilExpiry);
      deps.log(`renewal failed (attempt ${attempt}): ${message}; retrying in ${(wait / 1000).toFixed(1)} s (current SVID valid until ${new Date(svid.notAfter).toISOString()})`);
    }
  }
}

/** Sleeps `ms`; false when `signal` aborted first (or already had). */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (completed: boolean) => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      resolve(completed);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

async function readToken(file: string): Promise<string> {
  const text = await readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
    throw new SvidFailure(`cannot read the token file ${file} (${error.code ?? error.message})`);
  });
  const token = text.trim();
  if (token === "") throw new SvidFailure(`the token file ${file} is empty`);
  return token;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+?-----END CERTIFICATE-----/g;

function parseCertificates(text: string, field: string): X509Certificate[] {
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  return blocks.map((block, index) => {
    try {
      return new X509Certificate(block);
    } catch {
      throw new SvidFailure(`${field}: certificate ${index} does not parse`);
    }
  });
}

/** The URI SANs of a certificate, read from the extension itself (not node's display string). */
function uriSans(certificate: X509Certificate): string[] {
  const parsed = new x509.X509Certificate(certificate.raw);
  const san = parsed.getExtension(x509.SubjectAlternativeNameExtension);
  return san === null ? [] : san.names.items.filter((name) => name.type === "url").map((name) => name.value);
}

function normalSerial(serial: string): string {
  return serial.replace(/:/g, "").toLowerCase().replace(/^0+/, "");
}


function ensureNewline(text: string): string {
  return text.endsWith("\n") ? text : `${text}\n`;
}

async function readJson(res: Response): Promise<unknown> {
  try {
    return JSON.parse(await res.text());
  } catch {
    return undefined;
  }
}
