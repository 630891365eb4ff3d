import type { CertificateAuthority } from "./ca-store.js";
import type { SvidTemplate } from "./svid-template.js";
import { x509 } from "./x509.js";

const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

/**
 * Signs an X.509-SVID (X509-SVID §4) for `publicKey` from a template: exactly one URI SAN (the
 * SPIFFE ID) plus the granted DNS names; basicConstraints CA:FALSE, critical; keyUsage critical,
 * digitalSignature (and keyEncipherment for RSA), never keyCertSign or cRLSign; EKU serverAuth and
 * clientAuth; subject and authority key identifiers.
 */
export async function signSvid(ca: CertificateAuthority, template: SvidTemplate, publicKey: x509.PublicKey): Promise<x509.X509Certificate> {
  const usages = x509.KeyUsageFlags.digitalSignature | (template.keyEncipherment ? x509.KeyUsageFlags.keyEncipherment : 0);
  const names = [{ type: "url" as const, value: template.spiffeId }, ...template.dnsNames.map((value) => ({ type: "dns" as const, value }))];
  return x509.X509CertificateGenerator.create({
    serialNumber: template.serial,
    subject: template.subject.map((rdn) => ({ ...rdn })),
    issuer: ca.certificate.subjectName,
    notBefore: template.notBefore,
    notAfter: template.notAfter,
    publicKey,
    signingKey: ca.key.privateKey,
    signingAlgorithm: ca.key.signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(usages, true),
      new x509.ExtendedKeyUsageExtension([SERVER_AUTH, CLIENT_AUTH], false),
      new x509.SubjectAlternativeNameExtension(names, false),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      await authorityKeyIdentifier(ca.certificate),
    ],
  });
}

/** The CA's own subject key identifier when it has one (RFC 5280 §4.2.1.1), else one computed from its key. */
async function authorityKeyIdentifier(certificate: x509.X509Certificate): Promise<x509.AuthorityKeyIdentifierExtension> {
  const ski = certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski !== null) return new x509.AuthorityKeyIdentifierExtension(ski.keyId, false);
  return x509.AuthorityKeyIdentifierExtension.create(certificate.publicKey, false);
}
