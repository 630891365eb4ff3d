import { randomBytes } from "node:crypto";

/** Backdating of notBefore, for relying parties whose clocks run a little behind. */
export const CLOCK_SKEW_SECONDS = 30;

/** Everything an X.509-SVID says, decided from the grant and the caps: never from the CSR. */
export interface SvidTemplate {
  /** Lowercase hex, positive, 20 bytes (159 random bits): RFC 5280 §4.1.2.2, CA/B ≥ 64 bits. */
  readonly serial: string;
  readonly spiffeId: string;
  readonly dnsNames: readonly string[];
  /** RSA keys may also encipher keys (X509-SVID §4.3). */
  readonly keyEncipherment: boolean;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Subject attributes: informative only (X509-SVID §2: the identity is the URI SAN). */
  readonly subject: readonly Record<string, string[]>[];
}

/**
 * Builds the template of one SVID. Validity: from now − CLOCK_SKEW_SECONDS to the smallest of the
 * grant's maximum, the global SVID cap and the CA's own expiry.
 */
export function svidTemplate(input: {
  spiffeId: string;
  dnsNames: readonly string[];
  keyType: "ec" | "rsa";
  now: number;
  lifetimeSeconds: number;
  caNotAfter: number;
}): SvidTemplate {
  const notAfter = Math.min(input.now + input.lifetimeSeconds, input.caNotAfter);
  if (notAfter <= input.now) throw new Error("the CA certificate has expired: no SVID can be issued");
  return {
    serial: randomSerial(),
    spiffeId: input.spiffeId,
    dnsNames: [...input.dnsNames],
    keyEncipherment: input.keyType === "rsa",
    notBefore: new Date((input.now - CLOCK_SKEW_SECONDS) * 1000),
    notAfter: new Date(notAfter * 1000),
    subject: [{ O: ["SPIFFE"] }, ...(input.dnsNames[0] === undefined ? [] : [{ CN: [input.dnsNames[0]] }])],
  };
}

/** Serial bytes are taken from a pool refilled 4,080 bytes (204 serials) at a time, as node's randomUUID does: one call into OpenSSL's CSPRNG per 204 SVIDs. */
const SERIAL_BYTES = 20;
const POOL_SERIALS = 204;
let pool = Buffer.alloc(0);
let poolOffset = 0;

/** 20 random bytes, top bit clear (positive) and first byte non-zero (minimal DER, fixed length); each pool byte is used once. */
function randomSerial(): string {
  if (poolOffset + SERIAL_BYTES > pool.length) {
    pool = randomBytes(SERIAL_BYTES * POOL_SERIALS);
    poolOffset = 0;
  }
  const bytes = pool.subarray(poolOffset, poolOffset + SERIAL_BYTES);
  poolOffset += SERIAL_BYTES;
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return bytes.toString("hex");
}
