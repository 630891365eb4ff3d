import type { JWK } from "jose";
import type { SigningKey } from "./signing-key.js";

/**
 * Where the broker's signing keys come from. Files today; a KMS can implement the same
 * interface later without touching the handlers.
 */
export interface KeyStore {
  /** The key that signs new credentials. */
  activeKey(): SigningKey;
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
}
