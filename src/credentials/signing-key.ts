import { sign, type KeyObject } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, type JWK } from "jose";
import { SIGNING_ALGORITHM } from "../protocol/broker-tokens.js";
import type { Signer } from "./signer.js";

/**
 * A broker signing key held in this process (the key files): it signs through the Signer port,
 * its private half stays inside, and its public half is published in the JWKS.
 */
export interface SigningKey extends Signer {
  /** Public JWK as published: kty, crv, x, y, kid, alg, use. */
  readonly publicJwk: Readonly<JWK>;
}

/** Builds a SigningKey from a P-256 private key, deriving the kid from the public key. */
export async function toSigningKey(privateKey: KeyObject): Promise<SigningKey> {
  if (privateKey.asymmetricKeyType !== "ec" || privateKey.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new Error("signing keys must be EC P-256 (ES256)");
  }
  const { kty, crv, x, y } = await exportJWK(privateKey);
  const bare: JWK = { kty, crv, x, y };
  const kid = await calculateJwkThumbprint(bare, "sha256");
  return {
    kid,
    alg: SIGNING_ALGORITHM,
    // Straight through node:crypto, on this thread: RFC 7518 §3.4 ES256 with the raw r||s signature.
    sign: (signingInput) => sign("sha256", signingInput, { key: privateKey, dsaEncoding: "ieee-p1363" }),
    publicJwk: Object.freeze({ ...bare, kid, alg: SIGNING_ALGORITHM, use: "sig" }),
  };
}
