import { X509Certificate } from "node:crypto";
import type { JWK } from "jose";
import type { CertificateAuthority } from "./ca-store.js";
import { certificatesPem } from "./x509.js";

/** How often bundle consumers should refetch, seconds (SPIFFE Trust Domain and Bundle §4.1.2). */
export const BUNDLE_REFRESH_HINT_SECONDS = 300;

/** A SPIFFE bundle document (SPIFFE Trust Domain and Bundle §4): a JWKS with SPIFFE parameters. */
export interface SpiffeBundle {
  readonly keys: readonly Readonly<JWK>[];
  readonly spiffe_sequence: number;
  readonly spiffe_refresh_hint: number;
}

/**
 * The trust domain's bundle: each X.509 root as a `use: x509-svid` key whose `x5c` holds exactly
 * that certificate (X509-SVID §6.1), and each published JWT signing key as a `use: jwt-svid` key
 * with its `kid` (JWT-SVID §6.1).
 *
 * `spiffe_sequence` MUST change whenever the contents change (Trust Domain and Bundle §4.1.1), and
 * replicas must agree on it without talking to each other. It is therefore derived from what every
 * replica reads alike: the newest root's notBefore (epoch seconds; a new CA is made later than the
 * one it replaces) plus the keys' revision (raised by one on every publish, activation and
 * retirement, `keysRevision`). Each term only grows, and each change of the contents raises one of
 * them, so the sum grows with every change and is the same on every replica for the same files.
 * Before revisions existed the sequence was the notBefore alone: the sum continues from it.
 */
export function spiffeBundle(ca: CertificateAuthority, jwtKeys: readonly Readonly<JWK>[], keysRevision: number): SpiffeBundle {
  const x509Keys = ca.roots.map((root) => {
    const der = Buffer.from(root.rawData);
    const { kty, crv, x, y, n, e } = new X509Certificate(der).publicKey.export({ format: "jwk" });
    const publicJwk = Object.fromEntries(Object.entries({ kty, crv, x, y, n, e }).filter(([, value]) => value !== undefined));
    return { ...publicJwk, use: "x509-svid", x5c: [der.toString("base64")] };
  });
  const jwtSvidKeys = jwtKeys.map((key) => {
    const { kty, crv, x, y, n, e, kid } = key;
    return Object.fromEntries(Object.entries({ kty, kid, crv, x, y, n, e, use: "jwt-svid" }).filter(([, value]) => value !== undefined)) as JWK;
  });
  const newestRoot = Math.max(...ca.roots.map((root) => Math.floor(root.notBefore.getTime() / 1000)));
  return {
    keys: [...x509Keys, ...jwtSvidKeys],
    spiffe_sequence: newestRoot + keysRevision,
    spiffe_refresh_hint: BUNDLE_REFRESH_HINT_SECONDS,
  };
}

/** The X.509 roots as PEM: what `openssl verify -CAfile` and TLS libraries load. */
export function bundlePem(ca: CertificateAuthority): string {
  return certificatesPem(ca.roots);
}
