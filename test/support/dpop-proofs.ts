/**
 * DPoP proofs for tests, made the way a client makes them: jose SignJWT with a real generated key
 * (RFC 9449 §4.2). Any header member or claim can be overridden, or left out with `undefined`.
 */
import { createHash, randomUUID } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type KeyObject } from "jose";

export type ProofAlgorithm = "ES256" | "ES384" | "ES512" | "EdDSA" | "Ed25519" | "PS256" | "PS384" | "PS512" | "RS256" | "RS384" | "RS512";

/** A client's DPoP key pair, with the public JWK it puts in the proof header and its thumbprint. */
export interface ProofKey {
  readonly alg: ProofAlgorithm;
  readonly privateKey: CryptoKey | KeyObject;
  readonly publicJwk: JWK;
  /** RFC 7638 SHA-256 thumbprint: the `cnf.jkt` of a token bound to this key. */
  readonly jkt: string;
}

export async function proofKey(alg: ProofAlgorithm = "ES256"): Promise<ProofKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  return { alg, privateKey, publicJwk, jkt: await calculateJwkThumbprint(publicJwk, "sha256") };
}

export interface ProofClaims {
  readonly htm?: unknown;
  readonly htu?: unknown;
  readonly iat?: unknown;
  readonly jti?: unknown;
  readonly ath?: unknown;
  readonly nonce?: unknown;
  readonly [name: string]: unknown;
}

/**
 * A DPoP proof signed with `key`: typ dpop+jwt, the key's alg, its public jwk; claims jti (random),
 * iat (now, or `nowSeconds`), plus `claims`. `header` overrides protected-header members.
 */
export async function makeProof(
  key: ProofKey,
  claims: ProofClaims,
  options: { readonly header?: Record<string, unknown>; readonly nowSeconds?: number } = {},
): Promise<string> {
  const payload: Record<string, unknown> = { jti: randomUUID(), iat: options.nowSeconds ?? Math.floor(Date.now() / 1000), ...claims };
  for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
  const header: Record<string, unknown> = { alg: key.alg, typ: "dpop+jwt", jwk: key.publicJwk, ...options.header };
  for (const [name, value] of Object.entries(header)) if (value === undefined) delete header[name];
  return new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(key.privateKey);
}

/** RFC 9449 §4.2 `ath` of an access token. */
export const ath = (accessToken: string): string => createHash("sha256").update(accessToken, "ascii").digest("base64url");

/** base64url of a JSON value: for hand-built (unsigned, tampered) proofs. */
export const b64json = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");
