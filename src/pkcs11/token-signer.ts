import { calculateJwkThumbprint, type JWK } from "jose";
import { MIN_RSA_BITS, type SigningKey } from "../credentials/signing-key.js";
import type { BrokerSigningAlgorithm } from "../protocol/broker-tokens.js";
import { cannotSignNow, type TokenClient } from "./token-client.js";
import type { PublicJwk, TokenKeyInfo } from "./token-protocol.js";

/**
 * A signing key inside a PKCS#11 token, behind the Signer port: `sign` is one bounded call to the
 * token (token-client.ts). A failed or late call leaves the request as 503 temporarily_unavailable,
 * never a 500 and never a hang; the client has logged the one line saying why.
 */
export interface TokenSigningKey extends SigningKey {
  /** The key pair's CKA_LABEL in the token (its name in keyset.json). */
  readonly label: string;
}

/** The token key labelled `info.label` as a signer for `alg` (ES256 for EC P-256; RS256 or PS256 for RSA). */
export async function tokenSigningKey(client: TokenClient, info: TokenKeyInfo, alg: BrokerSigningAlgorithm = defaultAlgorithm(info.publicJwk)): Promise<TokenSigningKey> {
  checkAlgorithm(info, alg);
  const bare = info.publicJwk as JWK;
  const kid = await calculateJwkThumbprint(bare, "sha256");
  return {
    kid,
    alg,
    label: info.label,
    publicJwk: Object.freeze({ ...bare, kid, alg, use: "sig" }),
    sign: async (signingInput) => {
      try {
        return await client.call("sign", info.label, alg, signingInput);
      } catch (error) {
        throw cannotSignNow("the broker", error);
      }
    },
  };
}

/**
 * The token key as one of the broker's signing keys, signing the `alg` keyset.json records for it
 * under the same rules as a key file (signing-key.ts `signingAlgorithmOf`): EC P-256 signs ES256;
 * an RSA key of at least 2048 bits signs the RS256 or PS256 that must be recorded.
 */
export async function tokenBrokerSigningKey(client: TokenClient, info: TokenKeyInfo, recorded: BrokerSigningAlgorithm | undefined): Promise<SigningKey> {
  const { publicJwk: jwk } = info;
  if (jwk.kty === "RSA") {
    const bits = Buffer.from(jwk.n, "base64url").length * 8;
    if (bits < MIN_RSA_BITS) throw new Error(`RSA signing keys must have at least ${MIN_RSA_BITS} bits (RFC 7518 §3.3), the token key ${JSON.stringify(info.label)} has ${bits}`);
    if (recorded === undefined) throw new Error(`the token key ${JSON.stringify(info.label)} is RSA: keyset.json must record its alg (RS256 or PS256)`);
  }
  return tokenSigningKey(client, info, recorded ?? defaultAlgorithm(jwk));
}

function defaultAlgorithm(jwk: PublicJwk): BrokerSigningAlgorithm {
  return jwk.kty === "EC" ? "ES256" : "RS256";
}

function checkAlgorithm(info: TokenKeyInfo, alg: BrokerSigningAlgorithm): void {
  const { publicJwk: jwk } = info;
  const fits = alg === "ES256" ? jwk.kty === "EC" && jwk.crv === "P-256" : jwk.kty === "RSA";
  if (!fits) throw new Error(`the token key labelled ${JSON.stringify(info.label)} (${jwk.kty === "EC" ? `EC ${jwk.crv}` : "RSA"}) cannot sign ${alg}`);
}
