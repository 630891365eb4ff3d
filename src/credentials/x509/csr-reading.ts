import { BrokerError } from "../../errors/broker-error.js";

/** What a CSR asks for: checked against the grant, never copied into the certificate. */
export interface CsrAsks {
  readonly uris: readonly string[];
  readonly dnsNames: readonly string[];
  /** Other SAN kinds (email, IP, directory name, …) by kind. */
  readonly otherNames: readonly string[];
  readonly commonNames: readonly string[];
  /** Any subject attribute value naming a SPIFFE ID. */
  readonly spiffeIdInSubject: boolean;
  readonly ca: boolean;
  readonly certificateSigning: boolean;
}

/**
 * One reading of a CSR's signature scheme, signature and requests (RFC 2986 §4.2): by the strict
 * DER reader (csr-der-reading.ts) or by @peculiar/x509 (csr-peculiar-reading.ts). Both read the
 * same fields the same way; the signature is then checked once, in csr.ts.
 */
export interface CsrReading {
  /** As @peculiar/x509 names the scheme: ECDSA, RSASSA-PKCS1-v1_5 or RSA-PSS, and a WebCrypto hash name. */
  readonly algorithm: { readonly name: string; readonly hash: string; readonly saltLength?: number };
  /** The signature BIT STRING's bytes (ECDSA: the DER Ecdsa-Sig-Value, RFC 5480 §2.2 / RFC 3279 §2.2.3). */
  readonly signature: Buffer;
  /** Read after the signature is checked (an unreadable request is refused only for a proven key). */
  readonly asks: () => CsrAsks;
}

export const refuseCsr = (description: string, detail?: string) => new BrokerError("invalid_request", `csr ${description}`, { detail: `csr ${detail ?? description}` });

export const NOT_A_CSR = "is not a valid PKCS#10 certificate request";
