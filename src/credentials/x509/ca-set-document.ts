import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../../lib/atomic-file.js";
import { withFileLock } from "../../lib/file-lock.js";

/**
 * The managed CA folder's manifest, `<BROKER_CA_DIR>/ca-set.json` (default keys/ca): which CA
 * signs SVIDs (`active`), which others the trust bundle publishes (`published`: the next CA
 * before it signs, previous CAs until their last SVID expires) and, per CA, its files and what
 * happened to it when. The same shape and rules as keys/signing/keyset.json:
 *
 * ```json
 * { "revision": 4, "root_sequence": 1764892800, "active": "ca-20261205T000000Z-1a2b3c4d",
 *   "published": ["ca-20251205T000000Z-9f8e7d6c"],
 *   "cas": { "ca-20261205T000000Z-1a2b3c4d": { "certificate": "ca-20261205T000000Z-1a2b3c4d.pem",
 *            "key": "ca-20261205T000000Z-1a2b3c4d.key", "created_at": "…", "activated_at": "…" } } }
 * ```
 *
 * `certificate`, `chain` and `key` are file names inside the folder (nothing that could leave
 * it), or for `key` an RFC 7512 `pkcs11:` URI naming a key in the token. `revision` is raised by
 * one on every write; `root_sequence` is the newest root notBefore (epoch seconds) any write has
 * seen, never lowered. The SPIFFE bundle's sequence is built on both (bundle.ts), so every
 * replica reading the folder computes the same one and it never goes down, even when the newest
 * CA is withdrawn.
 */
export const CA_SET_FILE = "ca-set.json";

/** CA names: also the stem of their files. */
export const CA_NAME = /^[A-Za-z0-9_-]{1,128}$/;
const FILE_NAME = /^[A-Za-z0-9_.-]{1,160}$/;
const PKCS11_URI = /^pkcs11:[^\s]{1,1000}$/i;

const timestamp = z.iso.datetime({ offset: true });
const fileName = z
  .string()
  .regex(FILE_NAME, "a file name inside the CA folder")
  .refine((name) => name !== "." && name !== "..", "a file name inside the CA folder");

const caRecordSchema = z.looseObject({
  /** The CA certificate (PEM): the one whose key signs SVIDs and CRLs. */
  certificate: fileName,
  /** The chain above it up to and including the upstream root (PEM), when it is an intermediate. */
  chain: fileName.optional(),
  /** Its private key: a PEM file in the folder (mode 0600), or a `pkcs11:` URI (a token's key). */
  key: z.union([fileName, z.string().regex(PKCS11_URI, "a pkcs11: URI")]),
  /** When it was added, and published. */
  created_at: timestamp.optional(),
  /** When it last became the active CA. */
  activated_at: timestamp.optional(),
  /** When it stopped signing: its last SVID expires at most the SVID lifetime cap later. */
  deactivated_at: timestamp.optional(),
});

export const caSetSchema = z.strictObject({
  revision: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  root_sequence: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  active: z.string().regex(CA_NAME, "bad CA name"),
  published: z.array(z.string().regex(CA_NAME, "bad CA name")).default([]),
  cas: z.record(z.string().regex(CA_NAME, "bad CA name"), caRecordSchema),
});

export type CaRecord = z.infer<typeof caRecordSchema>;
export type CaSetDocument = z.infer<typeof caSetSchema>;

/** True for a key named by a PKCS#11 URI rather than a file. */
export { isPkcs11Uri } from "../../protocol/pkcs11-uri.js";

/** Parses ca-set.json text; throws with the file and every problem, including CAs named but not described. */
export function parseCaSet(text: string, path: string): CaSetDocument {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new Error(`${path}: not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  const parsed = caSetSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`${path}: ${parsed.error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`).join("; ")}`);
  }
  const missing = [parsed.data.active, ...parsed.data.published].filter((name) => parsed.data.cas[name] === undefined);
  if (missing.length > 0) throw new Error(`${path}: cas: no entry for ${[...new Set(missing)].join(", ")}`);
  return parsed.data;
}

/** Reads and parses `<dir>/ca-set.json`. */
export async function readCaSet(dir: string): Promise<CaSetDocument> {
  const path = join(dir, CA_SET_FILE);
  return parseCaSet(await readFile(path, "utf8"), path);
}

/**
 * Replaces `<dir>/ca-set.json` atomically (mode 0600): `published` without the active CA, `cas`
 * only for CAs still named, `revision` one above the file it replaces and `root_sequence` never
 * below it (both read here, under the caller's {@link withCaSetLock}).
 */
export async function writeCaSet(dir: string, document: CaSetDocument, newestRootNotBefore: number): Promise<void> {
  const before = await previousCounters(dir);
  const published = [...new Set(document.published)].filter((name) => name !== document.active);
  const named = new Set([document.active, ...published]);
  const normalised: CaSetDocument = {
    revision: before.revision + 1,
    root_sequence: Math.max(before.rootSequence, newestRootNotBefore),
    active: document.active,
    published,
    cas: Object.fromEntries(Object.entries(document.cas).filter(([name]) => named.has(name))),
  };
  await writeFileAtomic(join(dir, CA_SET_FILE), `${JSON.stringify(normalised, null, 2)}\n`, 0o600);
}

async function previousCounters(dir: string): Promise<{ revision: number; rootSequence: number }> {
  let text: string;
  try {
    text = await readFile(join(dir, CA_SET_FILE), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { revision: 0, rootSequence: 0 };
    throw error;
  }
  const counter = (value: unknown): number => (Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : 0);
  try {
    const { revision, root_sequence } = JSON.parse(text) as { revision?: unknown; root_sequence?: unknown };
    return { revision: counter(revision), rootSequence: counter(root_sequence) };
  } catch {
    return { revision: 0, rootSequence: 0 };
  }
}

/** Runs `change` holding `<dir>/ca-set.lock`: two `broker ca` steps never interleave. */
export function withCaSetLock<T>(dir: string, change: () => Promise<T>): Promise<T> {
  return withFileLock(join(dir, "ca-set.lock"), "broker ca", change);
}
