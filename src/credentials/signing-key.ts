import type { KeyObject } from "node:crypto";
import { SIGNING_ALGORITHM } from "../protocol/broker-tokens.js";
import { calculateJwkThumbprint, exportJWK, type JWK } from "jose";

/** A broker signing key: the private half signs, the public half is published in the JWKS. */
export interface SigningKey {
  /** RFC 7638 JWK thumbprint of the public key. */
  readonly kid: string;
  readonly alg: typeof SIGNING_ALGORITHM;
  readonly privateKey: KeyObject;
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
  return { kid, alg: SIGNING_ALGORITHM, privateKey, publicJwk: Object.freeze({ ...bare, kid, alg: SIGNING_ALGORITHM, use: "sig" }) };
}
