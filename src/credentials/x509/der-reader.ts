/**
 * A strict DER TLV walker (ITU-T X.690 §10): enough to find fields inside certificates by position
 * and copy their exact bytes. It decodes no values; callers hand the bytes it finds to a real parser
 * (node:crypto, @peculiar/x509) or compare them. Indefinite and non-minimal lengths, high tag
 * numbers and anything past the end are refused.
 */

/** One element: where its tag, contents and end are in the buffer it was read from. */
export interface DerElement {
  readonly tag: number;
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
}

/** The element that starts at `offset`. */
export function readElement(der: Uint8Array, offset = 0): DerElement {
  const tag = der[offset];
  const first = der[offset + 1];
  if (tag === undefined || first === undefined) throw new Error("DER: truncated header");
  if ((tag & 0x1f) === 0x1f) throw new Error("DER: high tag numbers are not supported");
  let length = first;
  let contentStart = offset + 2;
  if (first >= 0x80) {
    const count = first & 0x7f;
    if (count === 0) throw new Error("DER: indefinite length");
    if (count > 4) throw new Error("DER: length too large");
    length = 0;
    for (let index = 0; index < count; index++) {
      const byte = der[contentStart + index];
      if (byte === undefined) throw new Error("DER: truncated length");
      length = length * 256 + byte;
    }
    if (der[contentStart] === 0 || length < 0x80) throw new Error("DER: length not in its shortest form");
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > der.length) throw new Error("DER: element runs past the end");
  return { tag, start: offset, contentStart, end };
}

/** The elements inside a constructed element, in order; they must fill it exactly. */
export function childrenOf(der: Uint8Array, parent: DerElement): DerElement[] {
  if ((parent.tag & 0x20) === 0) throw new Error("DER: a primitive element has no children");
  const children: DerElement[] = [];
  for (let offset = parent.contentStart; offset < parent.end; ) {
    const child = readElement(der, offset);
    if (child.end > parent.end) throw new Error("DER: child runs past its parent");
    children.push(child);
    offset = child.end;
  }
  return children;
}

/** The whole encoding of an element (a view, not a copy). */
export const bytesOf = (der: Uint8Array, element: DerElement): Buffer => Buffer.from(der.buffer, der.byteOffset + element.start, element.end - element.start);

/** The contents of an element (a view, not a copy). */
export const contentsOf = (der: Uint8Array, element: DerElement): Buffer => Buffer.from(der.buffer, der.byteOffset + element.contentStart, element.end - element.contentStart);

/** The top-level element, which must span the whole buffer. */
export function readWhole(der: Uint8Array): DerElement {
  const element = readElement(der, 0);
  if (element.end !== der.length) throw new Error("DER: bytes after the end");
  return element;
}

/**
 * The TBSCertificate fields of a DER certificate (RFC 5280 §4.1), by name. The version is optional
 * ([0], absent for v1); issuerUniqueID [1], subjectUniqueID [2] and extensions [3] are picked out by tag.
 */
export function tbsFieldsOf(certificate: Uint8Array): {
  readonly tbs: DerElement;
  readonly serial: DerElement;
  readonly signature: DerElement;
  readonly issuer: DerElement;
  readonly validity: DerElement;
  readonly subject: DerElement;
  readonly subjectPublicKeyInfo: DerElement;
  /** The Extension SEQUENCEs, in order; empty when there are none. */
  readonly extensions: readonly DerElement[];
} {
  const [tbs] = childrenOf(certificate, readWhole(certificate));
  if (tbs === undefined) throw new Error("DER: certificate without a TBSCertificate");
  const fields = childrenOf(certificate, tbs);
  const positional = fields[0]?.tag === 0xa0 ? fields.slice(1) : fields;
  const [serial, signature, issuer, validity, subject, subjectPublicKeyInfo, ...optional] = positional;
  if (serial === undefined || signature === undefined || issuer === undefined || validity === undefined || subject === undefined || subjectPublicKeyInfo === undefined) {
    throw new Error("DER: TBSCertificate is missing fields");
  }
  const wrapper = optional.find((field) => field.tag === 0xa3);
  const list = wrapper === undefined ? undefined : childrenOf(certificate, wrapper)[0];
  return { tbs, serial, signature, issuer, validity, subject, subjectPublicKeyInfo, extensions: list === undefined ? [] : childrenOf(certificate, list) };
}

/**
 * The subjectPublicKey bits of a SubjectPublicKeyInfo, without the unused-bits byte: what RFC 5280
 * §4.2.1.2 method (1) hashes into a key identifier.
 */
export function subjectPublicKeyBits(spki: Uint8Array): Buffer {
  const [, key] = childrenOf(spki, readWhole(spki));
  if (key === undefined || key.tag !== 0x03 || key.end - key.contentStart < 1 || spki[key.contentStart] !== 0) throw new Error("DER: malformed SubjectPublicKeyInfo");
  return Buffer.from(spki.buffer, spki.byteOffset + key.contentStart + 1, key.end - key.contentStart - 1);
}
