import { NOT_A_CSR, refuseCsr, type CsrAsks, type CsrReading } from "./csr-reading.js";
import { x509 } from "./x509.js";

/**
 * Reads a CSR with @peculiar/x509: any CSR the strict DER reader does not take (csr-der-reading.ts),
 * such as RSA-PSS signatures, other attributes or extensions, non-ASCII names. ~100 µs or more of
 * ASN.1 object model per CSR. `spki` is the SubjectPublicKeyInfo the key was imported from.
 */
export function readCsrWithPeculiar(der: Buffer, spki: Buffer): CsrReading {
  let request: x509.Pkcs10CertificateRequest;
  try {
    request = new x509.Pkcs10CertificateRequest(der);
  } catch (error) {
    throw refuseCsr(NOT_A_CSR, `DER parse failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  // Both readings must agree on the key: the one checked is the one certified.
  if (!Buffer.from(request.publicKey.rawData).equals(spki)) throw refuseCsr(NOT_A_CSR, "SubjectPublicKeyInfo is not in DER");
  return { algorithm: signatureAlgorithmOf(request), signature: Buffer.from(request.signature), asks: () => asksOf(request) };
}

/** The CSR's signature scheme as @peculiar/x509 maps its AlgorithmIdentifier (RFC 5758, RFC 4055). */
function signatureAlgorithmOf(csr: x509.Pkcs10CertificateRequest): CsrReading["algorithm"] {
  try {
    const algorithm = csr.signatureAlgorithm as { name?: string; hash?: { name?: string } | string; saltLength?: number };
    const hash = typeof algorithm.hash === "string" ? algorithm.hash : (algorithm.hash?.name ?? "unknown");
    return { name: algorithm.name ?? "unknown", hash, ...(algorithm.saltLength === undefined ? {} : { saltLength: algorithm.saltLength }) };
  } catch {
    throw refuseCsr("signature algorithm is not supported");
  }
}

function asksOf(csr: x509.Pkcs10CertificateRequest): CsrAsks {
  const uris: string[] = [];
  const dnsNames: string[] = [];
  const otherNames: string[] = [];
  let ca = false;
  let certificateSigning = false;
  let extensions: x509.Extension[];
  try {
    extensions = csr.extensions;
  } catch {
    throw refuseCsr("extension request cannot be read");
  }
  for (const extension of extensions) {
    if (extension instanceof x509.SubjectAlternativeNameExtension) {
      for (const name of extension.names.items) {
        if (name.type === "url") uris.push(name.value);
        else if (name.type === "dns") dnsNames.push(name.value);
        else otherNames.push(name.type);
      }
    } else if (extension instanceof x509.BasicConstraintsExtension) {
      ca ||= extension.ca;
    } else if (extension instanceof x509.KeyUsagesExtension) {
      certificateSigning ||= (extension.usages & (x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign)) !== 0;
    }
  }
  const subject = csr.subjectName.toJSON();
  const values = subject.flatMap((rdn) => Object.values(rdn).flat());
  const commonNames = subject.flatMap((rdn) => rdn.CN ?? []);
  return { uris, dnsNames, otherNames, commonNames, ca, certificateSigning, spiffeIdInSubject: values.some((value) => /spiffe:/i.test(value)) };
}
