import { generateKeyPairSync } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../../lib/atomic-file.js";
import { caKeyOf, type CaKey } from "./ca-key.js";

/** The key types a new CA key can have: what every relying party verifies (caSigningAlgorithmOf). */
export const CA_KEY_TYPES = ["P-256", "P-384", "RSA-2048", "RSA-3072"] as const;
export type CaKeyType = (typeof CA_KEY_TYPES)[number];

/**
 * A CA key just made, not named yet: what made it (a new root, a request) names it once its name
 * is known (the CA's name carries the certificate's key id), or throws it away when a later step
 * fails, so no half-made CA leaves a key behind.
 */
export interface FreshCaKey {
  readonly key: CaKey;
  /**
   * Keeps it under `name`: a PEM file `<dir>/<name>.key` (mode 0600; answers its file name), or
   * for a token's key its CKA_LABEL (answers the RFC 7512 URI that names it from now on).
   */
  keep(name: string, dir: string): Promise<string>;
  /** Removes what `keep` wrote, or destroys the token's key: best effort. */
  discard(): Promise<void>;
}

/**
 * Generates a CA key inside a PKCS#11 token (`broker ca … --in-token`; src/pkcs11/token-ca-keys.ts):
 * sensitive and never extractable, signing only through the token.
 */
export type TokenCaKeyGenerator = (type: CaKeyType) => Promise<FreshCaKey>;

/**
 * Destroys the token key `uri` names (`broker ca rotate --retire … --destroy-key`); refuses when
 * one of `stillNamed` (the keys of the CAs that stay) is the same key.
 */
export type TokenCaKeyDestroyer = (uri: string, stillNamed: readonly string[]) => Promise<void>;

/** A new CA key of `type`: inside the token with `inToken`, else in this process (kept as a PEM file). */
export async function freshCaKey(type: CaKeyType, inToken: TokenCaKeyGenerator | undefined): Promise<FreshCaKey> {
  if (inToken !== undefined) return inToken(type);
  const { privateKey } = type.startsWith("RSA-") ? generateKeyPairSync("rsa", { modulusLength: Number(type.slice(4)) }) : generateKeyPairSync("ec", { namedCurve: type });
  let written: string | undefined;
  return {
    key: caKeyOf(privateKey),
    async keep(name, dir) {
      const file = `${name}.key`;
      await writeFileAtomic(join(dir, file), privateKey.export({ format: "pem", type: "pkcs8" }).toString(), 0o600);
      written = join(dir, file);
      return file;
    },
    async discard() {
      if (written !== undefined) await rm(written, { force: true });
    },
  };
}

/** `--key-type`: one of {@link CA_KEY_TYPES}. */
export function parseCaKeyType(text: string): CaKeyType {
  const type = CA_KEY_TYPES.find((each) => each.toLowerCase() === text.toLowerCase());
  if (type === undefined) throw new Error(`a CA key type: ${CA_KEY_TYPES.join(", ")}`);
  return type;
}
