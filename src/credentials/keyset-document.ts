import { open, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../lib/atomic-file.js";

/**
 * keys/signing/keyset.json: which key signs (`active`), which other keys the JWKS publishes
 * (`published`: the next key before it signs, previous keys until their last token expires) and,
 * since rotation tooling, what happened to each key when (`keys`). Older files without `keys`
 * stay valid; unknown members of a key record are kept on rewrite. `revision` counts the writes:
 * every change goes through {@link writeKeyset}, which raises it by one, so every replica reading
 * the folder knows the same number for the same keys (the SPIFFE bundle's sequence is built on it).
 *
 * ```json
 * { "revision": 3, "active": "key-20250101T000000Z-Kqf", "published": ["key-20241201T000000Z-a1B"],
 *   "keys": { "key-20250101T000000Z-Kqf": { "kid": "Kqf…", "created_at": "…", "activated_at": "…" } } }
 * ```
 */
export const KEYSET_FILE = "keyset.json";

/** Key file names: `<name>.pem` in the same folder, nothing that could leave it. */
export const KEY_NAME = /^[A-Za-z0-9_-]{1,128}$/;

const timestamp = z.iso.datetime({ offset: true });

const keyRecordSchema = z.looseObject({
  /** RFC 7638 thumbprint, for `broker keys list` (the store derives it from the PEM). */
  kid: z.string().optional(),
  /** When the key was created and, for a prepared key, published. */
  created_at: timestamp.optional(),
  /** When it last became the active key. */
  activated_at: timestamp.optional(),
  /** When it stopped being the active key: its last token expires at most the lifetime cap later. */
  deactivated_at: timestamp.optional(),
});

export const keysetSchema = z.strictObject({
  /** Raised by one on every write (absent in files written before it existed: 0). */
  revision: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  active: z.string().regex(KEY_NAME, "bad key name"),
  published: z.array(z.string().regex(KEY_NAME, "bad key name")).default([]),
  keys: z.record(z.string().regex(KEY_NAME, "bad key name"), keyRecordSchema).optional(),
});

export type KeyRecord = z.infer<typeof keyRecordSchema>;
export type Keyset = z.infer<typeof keysetSchema>;

/** Parses keyset.json text; throws with the file and every problem. */
export function parseKeyset(text: string, path: string): Keyset {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new Error(`${path}: not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  const parsed = keysetSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`${path}: ${parsed.error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`).join("; ")}`);
  }
  return parsed.data;
}

/** Reads and parses `<dir>/keyset.json`. */
export async function readKeyset(dir: string): Promise<Keyset> {
  const path = join(dir, KEYSET_FILE);
  return parseKeyset(await readFile(path, "utf8"), path);
}

/**
 * Replaces `<dir>/keyset.json` atomically (mode 0600), `published` without the active key, and
 * `revision` one above the file it replaces (read here, under the caller's {@link withKeysetLock},
 * so no caller can forget or lower it).
 */
export async function writeKeyset(dir: string, keyset: Keyset): Promise<void> {
  const normalised: Keyset = {
    revision: (await currentRevision(dir)) + 1,
    active: keyset.active,
    published: [...new Set(keyset.published)].filter((name) => name !== keyset.active),
    ...(keyset.keys === undefined ? {} : { keys: keyset.keys }),
  };
  await writeFileAtomic(join(dir, KEYSET_FILE), `${JSON.stringify(normalised, null, 2)}\n`, 0o600);
}

/**
 * The revision of `<dir>/keyset.json`: 0 when there is none yet or it predates revisions. A file
 * broken otherwise (being repaired by this write) still gives its revision when it has a readable one.
 */
async function currentRevision(dir: string): Promise<number> {
  let text: string;
  try {
    text = await readFile(join(dir, KEYSET_FILE), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw error;
  }
  try {
    const { revision } = JSON.parse(text) as { revision?: unknown };
    return Number.isSafeInteger(revision) && (revision as number) >= 0 ? (revision as number) : 0;
  } catch {
    return 0;
  }
}

/**
 * Runs `change` holding `<dir>/keyset.lock` (created exclusively), so two operators' rotation
 * steps never interleave their read-modify-write of keyset.json.
 */
export async function withKeysetLock<T>(dir: string, change: () => Promise<T>): Promise<T> {
  const lockPath = join(dir, "keyset.lock");
  let handle;
  try {
    handle = await open(lockPath, "wx", 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") {
      throw new Error(`${lockPath} exists: another keys command is running (if none is, a crashed one left it: remove the file)`);
    }
    throw error;
  }
  try {
    await handle.writeFile(`${process.pid}\n`);
    await handle.close();
    return await change();
  } finally {
    await rm(lockPath, { force: true });
  }
}
