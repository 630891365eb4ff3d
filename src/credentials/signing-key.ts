import { constants, sign, type KeyObject, type SignKeyObjectInput } from "node:crypto";
import { promisify } from "node:util";
import { calculateJwkThumbprint, exportJWK, type JWK } from "jose";
import { SIGNING_ALGORITHM, type BrokerSigningAlgorithm } from "../protocol/broker-tokens.js";
import type { Signer } from "./signer.js";

/**
 * A broker signing key held in this process (the key files): it signs through the Signer port,
 * its private half stays inside, and its public half is published in the JWKS.
 */
export interface SigningKey extends Signer {
  /** Public JWK as published: kty, crv, x, y (EC) or n, e (RSA), kid, alg, use. */
  readonly publicJwk: Readonly<JWK>;
}

/** RFC 7518 §3.3, §3.5: "A key of size 2048 bits or larger MUST be used". */
export const MIN_RSA_BITS = 2048;

// With a callback, node:crypto signs on the libuv thread pool. An RSA-2048 signature takes
// ~250 µs of CPU here (~1 ms on slower machines); on the pool the event loop spends ~35 µs of it
// (measured: bench/README.md, "RSA signing keys"). An ECDSA signature (~27 µs) is signed in place:
// the trip to the pool and back would cost the event loop more than the signature itself.
const signOnPool = promisify(sign);

/**
 * Builds a SigningKey from a private key and the algorithm keyset.json records for it, deriving
 * the kid (RFC 7638 thumbprint) from the public key. EC P-256 signs ES256 (a recorded `alg`, if
 * any, must say so); an RSA key of at least 2048 bits signs RS256 or PS256, which must be
 * recorded: the same RSA key could sign either, and a verifier must know which one to expect.
 */
export async function toSigningKey(privateKey: KeyObject, alg?: BrokerSigningAlgorithm): Promise<SigningKey> {
  const keyAlg = signingAlgorithmOf(privateKey, alg);
  const bare = publicMembers(await exportJWK(privateKey));
  const kid = await calculateJwkThumbprint(bare, "sha256");
  return { kid, alg: keyAlg, sign: signatureFunction(privateKey, keyAlg), publicJwk: Object.freeze({ ...bare, kid, alg: keyAlg, use: "sig" }) };
}

/** The algorithm `privateKey` signs with, given what keyset.json records (`recorded`); throws why not. */
export function signingAlgorithmOf(privateKey: KeyObject, recorded: BrokerSigningAlgorithm | undefined): BrokerSigningAlgorithm {
  const { asymmetricKeyType: type, asymmetricKeyDetails: details } = privateKey;
  if (type === "ec" && details?.namedCurve === "prime256v1") {
    if (recorded !== undefined && recorded !== SIGNING_ALGORITHM) throw new Error(`an EC P-256 key signs ES256, but keyset.json records alg ${recorded}`);
    return "ES256";
  }
  if (type === "rsa") {
    const bits = details?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) throw new Error(`RSA signing keys must have at least ${MIN_RSA_BITS} bits (RFC 7518 §3.3), this one has ${bits}`);
    if (recorded === undefined) throw new Error("an RSA signing key needs its alg (RS256 or PS256) recorded in keyset.json: the key alone does not say which");
    if (recorded === "ES256") throw new Error("an RSA key cannot sign ES256 (keyset.json records alg ES256): ES256 needs an EC P-256 key");
    return recorded;
  }
  const what = type === "ec" ? `EC ${details?.namedCurve ?? "?"}` : (type ?? "unknown");
  throw new Error(`signing keys must be EC P-256 (ES256) or RSA of at least ${MIN_RSA_BITS} bits (RS256, PS256), not ${what}`);
}

/** The members RFC 7638 §3.2 names for the thumbprint, and nothing private. */
function publicMembers(jwk: JWK): JWK {
  const { kty, crv, x, y, n, e } = jwk;
  return kty === "RSA" ? { kty, n, e } : { kty, crv, x, y };
}

function signatureFunction(privateKey: KeyObject, alg: BrokerSigningAlgorithm): Signer["sign"] {
  // RFC 7518 §3.4 ES256: the raw r||s signature, straight through node:crypto on this thread.
  if (alg === "ES256") return (signingInput) => sign("sha256", signingInput, { key: privateKey, dsaEncoding: "ieee-p1363" });
  // §3.3 RS256: RSASSA-PKCS1-v1_5 with SHA-256. §3.5 PS256: RSASSA-PSS, SHA-256, MGF1 with
  // SHA-256 (OpenSSL's default: the MGF1 hash follows the digest), salt as long as the hash.
  const options: SignKeyObjectInput =
    alg === "RS256" ? { key: privateKey, padding: constants.RSA_PKCS1_PADDING } : { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
  return (signingInput) => signOnPool("sha256", signingInput, options);
}
