import type { BrokerSigningAlgorithm } from "../protocol/broker-tokens.js";

/**
 * The port the minters sign through (access tokens, JWT-SVIDs): a key id, an algorithm and a
 * signature over bytes, never the private key itself. The key files implement it in this process
 * (signing-key.ts); a KMS or an HSM can implement it too without any change to the minters.
 */
export interface Signer {
  /** The JWS header's `kid`: the key's RFC 7638 thumbprint, as published in the JWKS. */
  readonly kid: string;
  /** The JWS header's `alg`: the key's own, as published in the JWKS (never chosen per token). */
  readonly alg: BrokerSigningAlgorithm;
  /**
   * The JWS signature (RFC 7515 §5.1) over `signingInput`: for ES256 the raw r||s, 64 bytes
   * (RFC 7518 §3.4), not DER; for RS256 and PS256 the modulus-length RSA signature (§3.3, §3.5). A remote signer answers a promise; a local one may answer at once.
   */
  sign(signingInput: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

/**
 * Where the minters get the signer of the moment: the active key, which a rotation changes. A
 * minter asks once per credential, so the `kid` it writes and the key that signs always agree.
 */
export interface SignerSource {
  activeKey(): Signer;
}
