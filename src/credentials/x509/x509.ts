/**
 * The one entry point to @peculiar/x509: it needs the Reflect metadata polyfill loaded before it
 * (ESM evaluates imports in order), and signs through Node's WebCrypto. Import x509 from here only.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { webcrypto } from "node:crypto";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };

/** WebCrypto types (the project compiles without the DOM library). */
export type CryptoKey = webcrypto.CryptoKey;
export type SignatureAlgorithm = webcrypto.EcdsaParams | webcrypto.Algorithm;

/** The WebCrypto the certificates are signed with. */
export const subtle = webcrypto.subtle;

/** PEM of one or more DER certificates, in order. */
export function certificatesPem(certificates: readonly x509.X509Certificate[]): string {
  return certificates.map((certificate) => `${certificate.toString("pem")}\n`).join("");
}
