import { createPrivateKey, generateKeyPairSync } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import type { JWK } from "jose";
import type { KeyStore } from "./key-store.js";
import { toSigningKey, type SigningKey } from "./signing-key.js";

/**
 * keys/signing/keyset.json names the active key and the other published ones; each key is a
 * PKCS#8 PEM file beside it (mode 0600). Rotation (prepare → publish → activate → retire)
 * edits the manifest; this store only reads it.
 */
const keysetSchema = z.strictObject({
  active: z.string().min(1),
  published: z.array(z.string().min(1)).default([]),
});

const KEY_FILE_NAME = /^[A-Za-z0-9_-]{1,128}$/;

export class FileKeyStore implements KeyStore {
  private constructor(
    private readonly active: SigningKey,
    private readonly published: readonly Readonly<JWK>[],
  ) {}

  /** Loads the keyset in `dir` (keys/signing). Throws with a clear reason when it is unusable. */
  static async load(dir: string): Promise<FileKeyStore> {
    const manifestPath = join(dir, "keyset.json");
    const parsed = keysetSchema.safeParse(JSON.parse(await readFile(manifestPath, "utf8")));
    if (!parsed.success) {
      throw new Error(`${manifestPath}: ${parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")}`);
    }
    const names = [...new Set([parsed.data.active, ...parsed.data.published])];
    const keys = new Map<string, SigningKey>();
    for (const name of names) {
      if (!KEY_FILE_NAME.test(name)) throw new Error(`${manifestPath}: bad key name ${JSON.stringify(name)}`);
      const pem = await readFile(join(dir, `${name}.pem`), "utf8");
      keys.set(name, await toSigningKey(createPrivateKey(pem)));
    }
    const active = keys.get(parsed.data.active);
    if (!active) throw new Error(`${manifestPath}: active key missing`);
    return new FileKeyStore(active, [...keys.values()].map((key) => key.publicJwk));
  }

  /** True when `dir` holds a keyset manifest. */
  static async exists(dir: string): Promise<boolean> {
    try {
      await readFile(join(dir, "keyset.json"));
      return true;
    } catch {
      return false;
    }
  }

  /** Generates a fresh P-256 key as the only, active key of a new keyset in `dir`. */
  static async generate(dir: string): Promise<FileKeyStore> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const key = await toSigningKey(privateKey);
    const pem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    await writeFileAtomic(join(dir, `${key.kid}.pem`), pem, 0o600);
    await writeFileAtomic(join(dir, "keyset.json"), `${JSON.stringify({ active: key.kid, published: [] }, null, 2)}\n`, 0o600);
    return FileKeyStore.load(dir);
  }

  activeKey(): SigningKey {
    return this.active;
  }

  publishedKeys(): readonly Readonly<JWK>[] {
    return this.published;
  }
}

/** Writes through a temporary file and a rename so a reader never sees half a key. */
export async function writeFileAtomic(path: string, content: string, mode: number): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, content, { mode, flag: "w" });
  await rename(temporary, path);
}
