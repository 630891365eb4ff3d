import { createPrivateKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { calculateJwkThumbprint, exportJWK } from "jose";
import { writeFileAtomic } from "./file-key-store.js";

/**
 * The development issuer: a local stand-in for a CI platform's OIDC issuer, so the quick start
 * can mint a subject token (`npm run dev-token`) and exchange it. Its key is generated per
 * checkout into keys/dev-issuer/ (never committed); policies/issuers.yaml trusts its JWKS file.
 * Remove the `local-dev` issuer and policy in production.
 */
export const DEV_ISSUER = "https://dev-issuer.invalid";

export function devIssuerPaths(keysDir: string) {
  const dir = join(keysDir, "dev-issuer");
  return { dir, privateKey: join(dir, "private.pem"), jwks: join(dir, "jwks.json") };
}

/** Creates the development issuer's key pair and JWKS when absent. Returns true when it created them. */
export async function ensureDevIssuer(keysDir: string): Promise<boolean> {
  const paths = devIssuerPaths(keysDir);
  try {
    await readFile(paths.jwks);
    await readFile(paths.privateKey);
    return false;
  } catch {
    await mkdir(paths.dir, { recursive: true, mode: 0o700 });
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const jwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(jwk, "sha256");
    await writeFileAtomic(paths.privateKey, privateKey.export({ format: "pem", type: "pkcs8" }).toString(), 0o600);
    await writeFileAtomic(paths.jwks, `${JSON.stringify({ keys: [{ ...jwk, kid, alg: "ES256", use: "sig" }] }, null, 2)}\n`, 0o644);
    return true;
  }
}

/** Loads the development issuer's signing key and its kid (for `broker dev-token`). */
export async function loadDevIssuerKey(keysDir: string): Promise<{ key: KeyObject; kid: string }> {
  const paths = devIssuerPaths(keysDir);
  const key = createPrivateKey(await readFile(paths.privateKey, "utf8"));
  const { kty, crv, x, y } = await exportJWK(key);
  return { key, kid: await calculateJwkThumbprint({ kty, crv, x, y }, "sha256") };
}
