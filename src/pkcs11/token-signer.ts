import { calculateJwkThumbprint, type JWK } from "jose";
import type { SigningKey } from "../credentials/signing-key.js";
import { BrokerError } from "../errors/broker-error.js";
import { SIGNING_ALGORITHM } from "../protocol/broker-tokens.js";
import type { TokenClient } from "./token-client.js";
import type { PublicJwk, TokenKeyInfo } from "./token-protocol.js";

/** The JWS algorithms a token key signs with (RFC 7518 §3.1); the broker's own `alg` union widens to it (issue 17). */
export type TokenSigningAlgorithm = "ES256" | "RS256" | "PS256";

/** Seconds a caller should wait before retrying when the token cannot sign: the token's failure hold. */
const TOKEN_RETRY_AFTER_SECONDS = 2;

/**
 * A signing key inside a PKCS#11 token, behind the Signer port: `sign` is one bounded call to the
 * token (token-client.ts). A failed or late call leaves the request as 503 temporarily_unavailable,
 * never a 500 and never a hang; the client has logged the one line saying why.
 */
export interface TokenSigningKey extends Omit<SigningKey, "alg"> {
  readonly alg: TokenSigningAlgorithm;
  /** The key pair's CKA_LABEL in the token (its name in keyset.json). */
  readonly label: string;
}

/** The token key labelled `info.label` as a signer for `alg` (ES256 for EC P-256; RS256 or PS256 for RSA). */
export async function tokenSigningKey(client: TokenClient, info: TokenKeyInfo, alg: TokenSigningAlgorithm = defaultAlgorithm(info.publicJwk)): Promise<TokenSigningKey> {
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
        throw new BrokerError("temporarily_unavailable", "the broker cannot sign right now; retry shortly", {
          detail: error instanceof Error ? error.message : String(error),
          cause: error,
          retryAfterSeconds: TOKEN_RETRY_AFTER_SECONDS,
        });
      }
    },
  };
}

/**
 * The token key as the broker's SigningKey. Until the broker's `alg` union (ES256 | RS256 | PS256)
 * lands, keyset keys in the token are ES256, as file keys are.
 */
export async function tokenBrokerSigningKey(client: TokenClient, info: TokenKeyInfo): Promise<SigningKey> {
  const key = await tokenSigningKey(client, info, SIGNING_ALGORITHM);
  return { ...key, alg: SIGNING_ALGORITHM };
}

function defaultAlgorithm(jwk: PublicJwk): TokenSigningAlgorithm {
  return jwk.kty === "EC" ? "ES256" : "RS256";
}

function checkAlgorithm(info: TokenKeyInfo, alg: TokenSigningAlgorithm): void {
  const { publicJwk: jwk } = info;
  const fits = alg === "ES256" ? jwk.kty === "EC" && jwk.crv === "P-256" : jwk.kty === "RSA";
  if (!fits) throw new Error(`the token key labelled ${JSON.stringify(info.label)} (${jwk.kty === "EC" ? `EC ${jwk.crv}` : "RSA"}) cannot sign ${alg}`);
}
