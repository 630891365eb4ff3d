import type { JWK } from "jose";
import type { SignerSource } from "./signer.js";

/**
 * Where the broker's signing keys come from: the signer of new credentials (the minters see
 * only that, `SignerSource`) and the public keys verifiers may meet. Files today; a KMS can
 * implement the same interface later without touching the minters or the handlers.
 */
export interface KeyStore extends SignerSource {
  /**
   * Every public key a verifier may meet: the active one, the next one (published before it
   * signs) and previous ones (kept until their last token expires).
   */
  publishedKeys(): readonly Readonly<JWK>[];
  /**
   * A number that goes up with every change of the keys (publish, activate, retire) and is the
   * same on every replica that reads the same keys: the SPIFFE bundle's sequence is built on it.
   */
  keysRevision(): number;
  /**
   * /readyz: whether the active key can sign now. Undefined: whenever keys are published (keys
   * read into this process cannot fail later); a token custody asks the token.
   */
  readiness?(): Promise<{ readonly ok: boolean; readonly detail?: string }>;
}
