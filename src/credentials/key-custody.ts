import type { BrokerSigningAlgorithm } from "../protocol/broker-tokens.js";
import { MIN_RSA_BITS, type SigningKey } from "./signing-key.js";

/** The key a custody generates (init, prepare): ES256 by default; RSA keys of `rsaBits` (default 2048). */
export interface KeyGeneration {
  readonly alg?: BrokerSigningAlgorithm;
  readonly rsaBits?: number;
}

/** RSA modulus sizes `broker keys` generates: RFC 7518's minimum and the stronger common ones. */
export const RSA_KEY_BITS = [MIN_RSA_BITS, 3072, 4096] as const;
export type RsaKeyBits = (typeof RSA_KEY_BITS)[number];

/** The custody holds no key under that name (no PEM file, no token object): `keys list` says "missing". */
export class KeyNotHeld extends Error {
  override readonly name = "KeyNotHeld";
}

/** The RSA size to generate for `generation`, checked; undefined for ES256 (EC P-256). Throws why not. */
export function rsaBitsFor(generation: KeyGeneration): RsaKeyBits | undefined {
  if ((generation.alg ?? "ES256") === "ES256") {
    if (generation.rsaBits !== undefined) throw new Error("--rsa-bits is for RS256 and PS256 keys; an ES256 key is EC P-256");
    return undefined;
  }
  const bits = generation.rsaBits ?? MIN_RSA_BITS;
  const size = RSA_KEY_BITS.find((each) => each === bits);
  if (size === undefined) throw new Error(`RSA key size must be one of ${RSA_KEY_BITS.join(", ")} bits`);
  return size;
}

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
   * Creates a new key for `generation` (ES256 by default) held by this custody and names it
   * `nameFor(kid)` (rotation names a key after its thumbprint). The key exists under that name
   * before this resolves, so a keyset naming it is never written before it.
   */
  create(nameFor: (kid: string) => string, generation: KeyGeneration): Promise<{ readonly name: string; readonly kid: string; readonly alg: BrokerSigningAlgorithm }>;
  /**
   * The signing key held under `name`, signing the `alg` keyset.json records for it (signing-key.ts
   * `signingAlgorithmOf` rules); throws {@link KeyNotHeld} when there is none, else with the reason.
   */
  open(name: string, alg: BrokerSigningAlgorithm | undefined): Promise<SigningKey>;
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
