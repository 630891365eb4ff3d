/**
 * The few DER encodings (ITU-T X.690 §10) an X.509-SVID needs, written directly: @peculiar's
 * object model costs about a millisecond per certificate to build what these functions write in
 * tens of microseconds. Definite, minimal lengths only; every value is encoded exactly one way.
 */

const TAG = { boolean: 0x01, integer: 0x02, bitString: 0x03, octetString: 0x04, null: 0x05, oid: 0x06, utf8String: 0x0c, printableString: 0x13, ia5String: 0x16, utcTime: 0x17, generalizedTime: 0x18, sequence: 0x30, set: 0x31 } as const;

/** One TLV: the tag byte, the length in its shortest form (X.690 §10.1), the contents; written into one buffer. */
export function tlv(tag: number, ...contents: readonly Buffer[]): Buffer {
  let length = 0;
  for (const part of contents) length += part.length;
  let lengthBytes = 0;
  if (length >= 0x80) for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) lengthBytes++;
  // allocUnsafe: every byte is written below (small buffers come from Node's pool, no zero-fill).
  const out = Buffer.allocUnsafe(2 + lengthBytes + length);
  out[0] = tag;
  if (lengthBytes === 0) out[1] = length;
  else {
    out[1] = 0x80 | lengthBytes;
    for (let index = 0, rest = length; index < lengthBytes; index++, rest = Math.floor(rest / 256)) out[1 + lengthBytes - index] = rest % 256;
  }
  let offset = 2 + lengthBytes;
  for (const part of contents) offset += part.copy(out, offset);
  return out;
}

export const sequence = (...items: readonly Buffer[]): Buffer => tlv(TAG.sequence, ...items);

/** SET OF: DER orders the elements by their encodings (X.690 §11.6). */
export const setOf = (...items: readonly Buffer[]): Buffer => tlv(TAG.set, ...[...items].sort(Buffer.compare));

/** [n] EXPLICIT: a constructed context-specific tag around one encoding. */
export const explicit = (n: number, inner: Buffer): Buffer => tlv(0xa0 | n, inner);

/** [n] IMPLICIT of a primitive type: the type's contents under a context-specific tag. */
export const implicit = (n: number, contents: Buffer): Buffer => tlv(0x80 | n, contents);

export const DER_TRUE = Buffer.from([TAG.boolean, 0x01, 0xff]);
export const DER_NULL = Buffer.from([TAG.null, 0x00]);

/** A non-negative INTEGER from hex digits: leading zero bytes dropped, a 00 added when the top bit is set. */
export function unsignedInteger(hex: string): Buffer {
  if (!/^[0-9a-fA-F]+$/.test(hex)) throw new Error("DER INTEGER: not hexadecimal");
  let bytes = Buffer.from(hex.length % 2 === 1 ? `0${hex}` : hex, "hex");
  let first = 0;
  while (first < bytes.length - 1 && bytes[first] === 0) first++;
  bytes = bytes.subarray(first);
  if (((bytes[0] ?? 0) & 0x80) !== 0) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(TAG.integer, bytes);
}

/** An OBJECT IDENTIFIER from its dotted form (X.690 §8.19). */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split(".").map((arc) => {
    if (!/^(0|[1-9][0-9]*)$/.test(arc)) throw new Error(`DER OID: bad arc in ${dotted}`);
    return BigInt(arc);
  });
  const [first, second, ...rest] = arcs;
  if (first === undefined || second === undefined || first > 2n || (first < 2n && second > 39n)) throw new Error(`DER OID: ${dotted} is not a valid OID`);
  const bytes: number[] = [];
  for (const arc of [first * 40n + second, ...rest]) {
    const groups = [Number(arc & 0x7fn)];
    for (let rest7 = arc >> 7n; rest7 > 0n; rest7 >>= 7n) groups.unshift(Number(rest7 & 0x7fn) | 0x80);
    bytes.push(...groups);
  }
  return tlv(TAG.oid, Buffer.from(bytes));
}

export const octetString = (bytes: Buffer): Buffer => tlv(TAG.octetString, bytes);

/** A BIT STRING of whole bytes (keys, signatures): zero unused bits. */
export const bitString = (bytes: Buffer): Buffer => tlv(TAG.bitString, Buffer.from([0]), bytes);

/** A named-bit-list BIT STRING (keyUsage): bit 0 is the top bit of the first byte; trailing zero bits are dropped (X.690 §11.2.2). */
export function namedBits(bits: readonly number[]): Buffer {
  if (bits.length === 0) return tlv(TAG.bitString, Buffer.from([0]));
  const last = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(last / 8) + 1);
  for (const bit of bits) bytes[bit >> 3] = (bytes[bit >> 3] ?? 0) | (0x80 >> (bit & 7));
  return tlv(TAG.bitString, Buffer.from([7 - (last & 7)]), bytes);
}

/**
 * IA5String (SAN URIs and DNS names are ASCII), under its own tag or an IMPLICIT one such as a
 * GeneralName's; refuses anything that is not ASCII rather than mis-encode it.
 */
export function ia5(text: string, tag: number = TAG.ia5String): Buffer {
  for (let index = 0; index < text.length; index++) if (text.charCodeAt(index) > 0x7f) throw new Error("DER IA5String: not ASCII");
  return tlv(tag, Buffer.from(text, "ascii"));
}

/** A directory string as @peculiar/x509 writes one: PrintableString when every character allows it, else UTF8String. */
export function directoryString(text: string): Buffer {
  return /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(text) ? tlv(TAG.printableString, Buffer.from(text, "ascii")) : tlv(TAG.utf8String, Buffer.from(text, "utf8"));
}

/** RFC 5280 §4.1.2.5: UTCTime for 1950–2049, GeneralizedTime otherwise; whole seconds, UTC ("Z"). */
export function time(date: Date): Buffer {
  const year = date.getUTCFullYear();
  if (!Number.isFinite(year) || year < 0 || year > 9999) throw new Error("DER time: date out of range");
  const two = (value: number) => String(value).padStart(2, "0");
  const rest = `${two(date.getUTCMonth() + 1)}${two(date.getUTCDate())}${two(date.getUTCHours())}${two(date.getUTCMinutes())}${two(date.getUTCSeconds())}Z`;
  return year >= 1950 && year < 2050
    ? tlv(TAG.utcTime, Buffer.from(`${two(year % 100)}${rest}`, "ascii"))
    : tlv(TAG.generalizedTime, Buffer.from(`${String(year).padStart(4, "0")}${rest}`, "ascii"));
}
