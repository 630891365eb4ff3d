import { createHash } from "node:crypto";

/**
 * The last value hashed and its digest. A credential request hashes its subject token twice in
 * the same turn (its audit record names the token by digest; the verified-token cache is keyed
 * by the same digest): the second asks for the value just hashed, and gets it without hashing.
 */
let last: { readonly value: string; readonly digest: string } | undefined;

/** SHA-256 of a token or CSR, hex: the only form in which credentials appear in logs. */
export function sha256Hex(value: string): string {
  if (last !== undefined && last.value === value) return last.digest;
  const digest = createHash("sha256").update(value).digest("hex");
  last = { value, digest };
  return digest;
}
