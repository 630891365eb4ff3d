/** PEM (RFC 7468 §2) of DER bytes: 64-character base64 lines, no newline after the END line (as @peculiar/x509 writes it). */
export function pemOf(label: string, der: Buffer): string {
  const base64 = der.toString("base64");
  // Sliced, not matched with /.{1,64}/g: no regex run and no array of lines per certificate.
  let body = base64.slice(0, 64);
  for (let offset = 64; offset < base64.length; offset += 64) body += `\n${base64.slice(offset, offset + 64)}`;
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----`;
}
