import { randomBytes } from "node:crypto";
import { SignJWT } from "jose";
import { DEV_ISSUER, loadDevIssuerKey } from "../credentials/dev-material.js";

export interface DevTokenOptions {
  readonly keysDir: string;
  readonly subject: string;
  readonly audience: string;
  readonly lifetimeSeconds: number;
  readonly claims: Readonly<Record<string, string>>;
}

/**
 * Mints a subject token from the local development issuer, standing in for what a CI platform
 * would hand a job. Only brokers whose issuers.yaml trusts `local-dev` accept it.
 */
export async function mintDevToken(options: DevTokenOptions): Promise<string> {
  const { key, kid } = await loadDevIssuerKey(options.keysDir);
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ ...options.claims })
    .setProtectedHeader({ alg: "ES256", typ: "JWT", kid })
    .setIssuer(DEV_ISSUER)
    .setSubject(options.subject)
    .setAudience(options.audience)
    .setIssuedAt(now)
    .setExpirationTime(now + options.lifetimeSeconds)
    .setJti(randomBytes(16).toString("base64url"))
    .sign(key);
}
