import type { RsaKeyBits } from "../credentials/key-custody.js";
/**
 * What the token client (token-client.ts, event-loop thread) and the token worker
 * (token-worker.ts, its own thread) say to each other: plain data only, copied across threads.
 */

/** Where the token is and how to log in. `pin` crosses to the worker once, and is never logged. */
export interface TokenOpenSettings {
  /** Path of the PKCS#11 module (.so). */
  readonly module: string;
  /** The token's label (CKA_LABEL of the token), or: */
  readonly token?: string;
  /** its slot id. */
  readonly slot?: number;
  readonly pin: string;
}

/** Which slot and token a session was opened on. */
export interface TokenSession {
  readonly slotId: number;
  readonly tokenLabel: string;
}

/** A key pair to generate inside the token. */
export type KeySpec = { readonly kind: "ec"; readonly curve: "P-256" | "P-384" } | { readonly kind: "rsa"; readonly bits: RsaKeyBits };

/**
 * The signature a call asks for:
 * - `ES256` raw r||s over SHA-256 (JWS), `RS256` RSASSA-PKCS1-v1_5 SHA-256 (also X.509's
 *   sha256WithRSAEncryption), `PS256` RSASSA-PSS SHA-256, MGF1-SHA256, salt 32 (RFC 7518 §3.5);
 * - `ECDSA-SHA256`, `ECDSA-SHA384`: raw r||s over that digest; the CA turns them into DER.
 */
export type SignatureForm = "ES256" | "RS256" | "PS256" | "ECDSA-SHA256" | "ECDSA-SHA384";

/** A public half as JWK members (no kid, alg or use: the caller decides those). */
export type PublicJwk = { readonly kty: "EC"; readonly crv: "P-256" | "P-384"; readonly x: string; readonly y: string } | { readonly kty: "RSA"; readonly n: string; readonly e: string };

/** A key pair in the token: its CKA_LABEL, its CKA_ID (hex) and its public half. */
export interface TokenKeyInfo {
  readonly label: string;
  readonly id: string;
  readonly publicJwk: PublicJwk;
}

/** A private key's protection, as the token reports it. */
export interface KeyAttributes {
  readonly sensitive: boolean;
  readonly extractable: boolean;
  readonly alwaysSensitive: boolean;
  readonly neverExtractable: boolean;
  readonly token: boolean;
  readonly private: boolean;
  /** Whether reading CKA_VALUE succeeded: false for every key the broker generates. */
  readonly valueReadable: boolean;
}

/** The operations the worker runs, by name, with their arguments and answers. */
export interface TokenCalls {
  open(settings: TokenOpenSettings): TokenSession;
  ping(): void;
  findKey(label: string): TokenKeyInfo | undefined;
  /** The key pair whose private half has CKA_ID `idHex`; undefined when none. */
  findKeyById(idHex: string): TokenKeyInfo | undefined;
  listKeys(): TokenKeyInfo[];
  generate(label: string, spec: KeySpec): TokenKeyInfo;
  relabel(label: string, newLabel: string): void;
  sign(label: string, form: SignatureForm, data: Uint8Array): Uint8Array;
  destroy(label: string): number;
  attributes(label: string): KeyAttributes;
  close(): void;
}

export type TokenCallName = keyof TokenCalls;

/** One call, as posted to the worker. `deadline` (epoch ms): past it the worker skips the call. */
export interface TokenRequest {
  readonly id: number;
  readonly name: TokenCallName;
  readonly args: readonly unknown[];
  readonly deadline: number;
}

/** The worker's answer to one call. */
export type TokenReply = { readonly id: number; readonly ok: true; readonly value: unknown } | { readonly id: number; readonly ok: false; readonly message: string };
