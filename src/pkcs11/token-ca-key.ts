import { createPublicKey } from "node:crypto";
import type { CaKey } from "../credentials/x509/ca-key.js";
import { ecdsaRawToDer } from "./ecdsa-der.js";
import { parsePkcs11Uri, resolvePkcs11Key } from "./pkcs11-uri.js";
import { cannotSignNow, type TokenClient } from "./token-client.js";
import type { TokenKeyInfo } from "./token-protocol.js";

/**
 * The CA key inside a PKCS#11 token: SVIDs, CRLs and CSRs are signed by one bounded token call
 * each (token-client.ts); the private half never leaves the token. EC P-256 signs ECDSA with
 * SHA-256, P-384 with SHA-384 (the DER ECDSA-Sig-Value built here from the token's raw r||s), RSA
 * signs PKCS#1 v1.5 with SHA-256. A failed or late call is 503 temporarily_unavailable.
 */
export function tokenCaKey(client: TokenClient, info: TokenKeyInfo): CaKey {
  const { publicJwk: jwk, label } = info;
  const publicKey = createPublicKey({ key: { ...jwk }, format: "jwk" });
  const ec = jwk.kty === "EC";
  const hash = ec && jwk.crv === "P-384" ? "SHA-384" : "SHA-256";
  return {
    publicKey,
    signingAlgorithm: ec ? { name: "ECDSA", hash } : { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    custody: "pkcs11",
    sign: async (tbs) => {
      try {
        if (!ec) return Buffer.from(await client.call("sign", label, "RS256", tbs));
        return ecdsaRawToDer(await client.call("sign", label, hash === "SHA-384" ? "ECDSA-SHA384" : "ECDSA-SHA256", tbs));
      } catch (error) {
        throw cannotSignNow("the CA", error);
      }
    },
  };
}

/** The CA key an RFC 7512 URI names (`BROKER_CA_KEY=pkcs11:object=broker-ca-1`), in the token `client` is logged in to. */
export async function openTokenCaKey(client: TokenClient, uri: string): Promise<CaKey> {
  return tokenCaKey(client, await resolvePkcs11Key(client, parsePkcs11Uri(uri)));
}
