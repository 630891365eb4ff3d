import type { JSONWebKeySet, JWK } from "jose";

/** Limits applied to every key set, remote or static. */
export interface JwksDocumentOptions {
  /** Refuse a set with more keys than this (before any filtering). */
  readonly maxKeys: number;
  /**
   * Treat the document as a SPIFFE trust bundle when it looks like one: keep only
   * `use: "jwt-svid"` keys and present them to jose as `use: "sig"`.
   */
  readonly spiffeBundle: boolean;
}

/** Members that only private or symmetric keys carry (RFC 7518 §6.2.2, §6.3.2, §6.4.1). */
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] as const;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function looksLikeSpiffeBundle(doc: Record<string, unknown>, keys: readonly Record<string, unknown>[]): boolean {
  // SPIFFE Trust Domain and Bundle: bundles carry spiffe_sequence / spiffe_refresh_hint
  // and every key names its SVID type in `use`.
  return (
    "spiffe_sequence" in doc ||
    "spiffe_refresh_hint" in doc ||
    keys.some((key) => key.use === "jwt-svid" || key.use === "x509-svid")
  );
}

/**
 * Validates a parsed JWKS (or SPIFFE bundle) document and returns the key set jose should see.
 * Throws an Error naming the problem; the message never contains key material.
 */
export function toVerificationJwks(doc: unknown, options: JwksDocumentOptions): JSONWebKeySet {
  if (!isRecord(doc) || !Array.isArray(doc.keys)) throw new Error('not a JWK Set: expected an object with a "keys" array');
  const rawKeys: unknown[] = doc.keys;
  if (rawKeys.length > options.maxKeys) {
    throw new Error(`JWK Set has ${rawKeys.length} keys, more than the limit of ${options.maxKeys}`);
  }
  const keys: Record<string, unknown>[] = [];
  for (const [index, key] of rawKeys.entries()) {
    if (!isRecord(key) || typeof key.kty !== "string") throw new Error(`keys[${index}] is not a JWK`);
    const leaked = PRIVATE_MEMBERS.find((member) => member in key);
    // A private or secret member means someone published the wrong file: refuse it all
    // rather than guess which keys are safe (RFC 7517 §9.2).
    if (leaked !== undefined) throw new Error(`keys[${index}] contains private or secret key material ("${leaked}")`);
    keys.push(key);
  }
  const bundle = options.spiffeBundle && looksLikeSpiffeBundle(doc, keys);
  const usable = bundle
    ? // SPIFFE Trust Domain and Bundle, JWK "use": only jwt-svid keys verify JWT-SVIDs; x509-svid
      // keys are CA certificates and must never verify a JWT. jose's local set keeps use === "sig".
      keys.filter((key) => key.use === "jwt-svid").map((key) => ({ ...key, use: "sig" }))
    : keys;
  return { keys: usable as JWK[] };
}
