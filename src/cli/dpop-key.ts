import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
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
 */
export async function loadOrCreateDpopKey(file: string): Promise<{ key: DpopClientKey; created: boolean }> {
  let pem: string | undefined;
  try {
    pem = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw new Error(`cannot read the DPoP key ${file} (${(error as NodeJS.ErrnoException).code ?? "error"})`);
  }
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
