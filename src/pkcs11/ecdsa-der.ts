/**
 * PKCS#11 CKM_ECDSA answers the raw r||s (PKCS#11 §2.3.1); X.509 and CRLs carry the DER
 * ECDSA-Sig-Value (RFC 5480 §2.2, RFC 3279 §2.2.3): SEQUENCE { r INTEGER, s INTEGER }.
 */
export function ecdsaRawToDer(raw: Uint8Array): Buffer {
  if (raw.length === 0 || raw.length % 2 !== 0 || raw.length > 132) throw new Error(`not a raw ECDSA signature (${raw.length} bytes)`);
  const half = raw.length / 2;
  const body = Buffer.concat([derInteger(raw.subarray(0, half)), derInteger(raw.subarray(half))]);
  return Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]);
}

/** A non-negative INTEGER: leading zeros dropped, one 0x00 added when the top bit is set. */
function derInteger(bytes: Uint8Array): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start += 1;
  const trimmed = Buffer.from(bytes.subarray(start));
  const value = (trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
  return Buffer.concat([Buffer.from([0x02]), derLength(value.length), value]);
}

/** DER length: short form below 128, else 0x81 and one byte (a P-521 signature's body is < 256). */
function derLength(length: number): Buffer {
  return length < 0x80 ? Buffer.from([length]) : Buffer.from([0x81, length]);
}
