import { hash } from "node:crypto";

/**
 * The last value hashed and its digest. A credential request hashes its subject token twice in
 * the same turn (its audit record names the token by digest; the verified-token cache is keyed
 * by the same digest): the second asks for the value just hashed, and gets it without hashing.
 */
let last: { readonly value: string; readonly digest: string } | undefined;

/** SHA-256 of a token or CSR, hex: the only form in which credentials appear in logs. */
export function sha256Hex(value: string): string {
  if (last !== undefined && last.value === value) return last.digest;
  // The one-shot digest: createHash makes a native Hash object per call, which the young
  // generation's collector must then finalize (bench/README.md, eighth round).
  const digest = hash("sha256", value, "hex");
  last = { value, digest };
  return digest;
}
