import type { SigningKey } from "./signing-key.js";

/**
 * Where the broker's signing keys are held: the port keys/signing/keyset.json's names are
 * resolved through. Rotation (key-rotation.ts) and the key store (file-key-store.ts) work the
 * same over every custody; only this says what a name is:
 * - `files`: `<name>.pem` beside keyset.json, a PKCS#8 key this process reads (file-key-custody.ts);
 * - `pkcs11`: the CKA_LABEL of a key pair inside a PKCS#11 token; its private half never leaves
 *   the token, and signing goes through the token (src/pkcs11/token-key-custody.ts).
 */
export interface KeyCustody {
  readonly kind: "files" | "pkcs11";
  /**
   * Creates a new ES256 key held by this custody and names it `nameFor(kid)` (rotation names a
   * key after its thumbprint). The key exists under that name before this resolves, so a
   * keyset naming it is never written before it.
   */
  create(nameFor: (kid: string) => string): Promise<{ readonly name: string; readonly kid: string }>;
  /** The signing key held under `name`; throws with a clear reason when there is none. */
  open(name: string): Promise<SigningKey>;
  /** Destroys the key held under `name` (retire): a PEM file deleted, a token object destroyed. */
  destroy(name: string): Promise<void>;
  /**
   * Every key the custody holds, named or not in keyset.json (a token may hold keys another tool
   * made, or one a crashed `create` left under a provisional name). Undefined for files: the
   * folder is the keyset.
   */
  list?(): Promise<readonly { readonly name: string; readonly kid: string }[]>;
  /**
   * /readyz for the key under `name` (the active one): whether it can sign now. Undefined for a
   * custody that cannot fail apart from its files (they are read once per change).
   */
  readiness?(name: string): Promise<{ readonly ok: boolean; readonly detail: string }>;
}
