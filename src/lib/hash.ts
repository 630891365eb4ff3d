import { createHash } from "node:crypto";

/** SHA-256 of a token or CSR, hex: the only form in which credentials appear in logs. */
export function sha256Hex(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}
