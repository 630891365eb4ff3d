import { createPrivateKey, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
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

/** Where a development start keeps the generated admin secret (keys/dev-admin-secret, mode 0600). */
export function devAdminSecretPath(keysDir: string): string {
  return join(keysDir, "dev-admin-secret");
}

/**
 * The bootstrap admin secret of a development start without BROKER_ADMIN_SECRET: read from
 * keys/dev-admin-secret, generated there (48 random bytes, base64url, mode 0600) on the first
 * start, so the quick start's admin commands work as written. Returns it and whether it was
 * generated now. Production never calls this, and refuses to start while the file exists.
 */
export async function ensureDevAdminSecret(keysDir: string): Promise<{ secret: string; created: boolean }> {
  const file = devAdminSecretPath(keysDir);
  const existing = await readFile(file, "utf8").then(
    (text) => text.trim(),
    () => undefined,
  );
  if (existing !== undefined && existing.length >= 32) return { secret: existing, created: false };
  await mkdir(keysDir, { recursive: true, mode: 0o700 });
  const secret = randomBytes(48).toString("base64url");
  await writeFileAtomic(file, `${secret}\n`, 0o600);
  return { secret, created: true };
}
