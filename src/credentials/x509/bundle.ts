import { X509Certificate } from "node:crypto";
import type { JWK } from "jose";
import type { CaSet } from "./ca-set.js";
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
 * with its `kid` (JWT-SVID §6.1) and its `alg`: an RSA key signs RS256 or PS256, never both, and a
 * verifier that honours `alg` (RFC 7517 §4.4) then refuses the other.
 *
 * `spiffe_sequence` MUST change whenever the contents change (Trust Domain and Bundle §4.1.1), and
 * replicas must agree on it without talking to each other. It is therefore derived from what every
 * replica reads alike: the newest root's notBefore ever published (epoch seconds; a new CA is
 * made later than the one it replaces; ca-set.json keeps it as `root_sequence` so withdrawing a
 * prepared CA cannot lower it), plus the keys' revision (keyset.json, raised by one on every
 * publish, activation and retirement, `keysRevision`), plus the CA set's revision (ca-set.json,
 * raised the same way by every `broker ca` step). Each term only grows, and each change of the
 * contents raises one of them, so the sum grows with every change and is the same on every
 * replica for the same files. Before revisions existed the sequence was the notBefore alone, and
 * a single CA (BROKER_CA_CERT, keys/ca/ca.pem) has CA revision 0: the sum continues from both.
 * Moving a CA into the managed folder (`broker ca init`) keeps its notBefore and adds a revision ≥ 1.
 */
export function spiffeBundle(cas: CaSet, jwtKeys: readonly Readonly<JWK>[], keysRevision: number): SpiffeBundle {
  const x509Keys = cas.roots.map((root) => {
    const der = Buffer.from(root.rawData);
    const { kty, crv, x, y, n, e } = new X509Certificate(der).publicKey.export({ format: "jwk" });
    const publicJwk = Object.fromEntries(Object.entries({ kty, crv, x, y, n, e }).filter(([, value]) => value !== undefined));
    return { ...publicJwk, use: "x509-svid", x5c: [der.toString("base64")] };
  });
  const jwtSvidKeys = jwtKeys.map((key) => {
    const { kty, crv, x, y, n, e, kid, alg } = key;
    return Object.fromEntries(Object.entries({ kty, kid, alg, crv, x, y, n, e, use: "jwt-svid" }).filter(([, value]) => value !== undefined)) as JWK;
  });
  return {
    keys: [...x509Keys, ...jwtSvidKeys],
    spiffe_sequence: cas.rootSequence + keysRevision + cas.revision,
    spiffe_refresh_hint: BUNDLE_REFRESH_HINT_SECONDS,
  };
}

/** Every published CA's X.509 roots as PEM, each once: what `openssl verify -CAfile` and TLS libraries load. */
export function bundlePem(cas: CaSet): string {
  return certificatesPem(cas.roots);
}
