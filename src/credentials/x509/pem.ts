/** PEM (RFC 7468 §2) of DER bytes: 64-character base64 lines, no newline after the END line (as @peculiar/x509 writes it). */
export function pemOf(label: string, der: Buffer): string {
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----`;
}
