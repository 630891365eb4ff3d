import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, type KeyObject } from "node:crypto";
import type { Stats } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { calculateJwkThumbprint, exportJWK, SignJWT } from "jose";
import { writeFileAtomic } from "../lib/atomic-file.js";

/** A client's DPoP key (RFC 9449): proves possession on each request the bound token goes with. */
export interface DpopClientKey {
  readonly privateKey: KeyObject;
  /** RFC 7638 thumbprint: the `cnf.jkt` the broker puts in tokens bound to this key. */
  readonly jkt: string;
  /** A fresh proof for one request (RFC 9449 §4.2); `nonce` when the server asked for one. */
  proof(method: string, url: string, nonce?: string): Promise<string>;
}

/**
 * Loads an EC P-256 private key (PKCS#8 PEM) from `file`, or generates one there (mode 0600) when
 * the file does not exist: the same key must sign the proofs for every later use of the token.
 * An existing file must be ours and closed to everyone else (see {@link checkKeyFile}).
 */
export async function loadOrCreateDpopKey(file: string): Promise<{ key: DpopClientKey; created: boolean }> {
  const pem = await readKeyFile(file);
  let privateKey: KeyObject;
  if (pem === undefined) {
    privateKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    await writeFileAtomic(file, privateKey.export({ format: "pem", type: "pkcs8" }).toString(), 0o600);
  } else {
    try {
      privateKey = createPrivateKey(pem);
    } catch {
      // Never echo the file: it holds a private key.
      throw new Error(`the DPoP key ${file} is not a PEM private key`);
    }
    if (privateKey.asymmetricKeyType !== "ec" || privateKey.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
      throw new Error(`the DPoP key ${file} must be an EC P-256 key (ES256)`);
    }
  }
  return { key: await dpopClientKey(privateKey), created: pem === undefined };
}

/**
 * The key file's text, or undefined when it does not exist. The checks run on the opened file
 * (fstat), so the file read is the file checked, even if the path is swapped meanwhile.
 */
async function readKeyFile(file: string): Promise<string | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(file, "r");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    throw new Error(`cannot read the DPoP key ${file} (${code ?? "error"})`);
  }
  try {
    checkKeyFile(file, await handle.stat());
    return await handle.readFile("utf8");
  } finally {
    await handle.close();
  }
}

/**
 * As ssh does for identity files: a private key that someone else owns, or that group or others
 * may read or write, is refused rather than used (whoever could read it can forge our proofs;
 * whoever could write it can swap in their own key). POSIX only: Windows has no such mode bits.
 */
function checkKeyFile(file: string, stats: Stats): void {
  if (!stats.isFile()) throw new Error(`the DPoP key ${file} is not a regular file`);
  const uid = process.getuid?.();
  if (uid === undefined) return;
  if (stats.uid !== uid) throw new Error(`the DPoP key ${file} is not owned by the current user (owner uid ${stats.uid}, we are uid ${uid}): use a key file of your own`);
  const mode = stats.mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new Error(`the DPoP key ${file} has mode 0${mode.toString(8).padStart(3, "0")}: a private key must not be accessible to group or others (fix: chmod 600 ${file})`);
  }
}

async function dpopClientKey(privateKey: KeyObject): Promise<DpopClientKey> {
  const { kty, crv, x, y } = await exportJWK(createPublicKey(privateKey));
  const jwk = { kty, crv, x, y };
  return {
    privateKey,
    jkt: await calculateJwkThumbprint(jwk, "sha256"),
    proof: (method, url, nonce) =>
      new SignJWT({ htm: method, htu: url, ...(nonce === undefined ? {} : { nonce }) })
        .setProtectedHeader({ typ: "dpop+jwt", alg: "ES256", jwk })
        .setJti(randomUUID())
        .setIssuedAt()
        .sign(privateKey),
  };
}
