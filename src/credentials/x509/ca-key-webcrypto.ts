import { webcrypto } from "node:crypto";
import type { CaKey } from "./ca-key.js";
import { x509, type CryptoKey } from "./x509.js";

/** What @peculiar/x509's generators take: a crypto provider and the key they hand to its `subtle.sign`. */
export interface CaKeySigning {
  readonly crypto: webcrypto.Crypto;
  readonly signingKey: CryptoKey;
  readonly signingAlgorithm: CaKey["signingAlgorithm"];
}

const EC_CURVES: Readonly<Record<string, string>> = { prime256v1: "P-256", secp384r1: "P-384" };
const ecFormatter = new x509.AsnEcSignatureFormatter();

/**
 * Lets @peculiar/x509 sign with a CaKey (CRLs, self-signed roots, certificate requests) without a
 * private CryptoKey: a crypto provider that is Node's WebCrypto except that `subtle.sign` with the
 * returned `signingKey` goes to `key.sign(tbs)`. The generator expects WebCrypto's signature form
 * and re-encodes it, so the port's DER ECDSA-Sig-Value is turned into r||s first (RSA PKCS#1 v1.5
 * bytes are the same in both). Any other key goes to Node's WebCrypto unchanged.
 */
export function caKeySigning(key: CaKey): CaKeySigning {
  const namedCurve = EC_CURVES[key.publicKey.asymmetricKeyDetails?.namedCurve ?? ""];
  const algorithm = key.signingAlgorithm.name === "ECDSA" ? { name: "ECDSA", namedCurve } : { name: key.signingAlgorithm.name, hash: { name: key.signingAlgorithm.hash } };
  // Only `algorithm` is read by the generators (to choose the AlgorithmIdentifier); the object is
  // a stand-in recognised by identity below, never a real key.
  const signingKey = Object.freeze({ type: "private", extractable: false, algorithm, usages: ["sign"] }) as unknown as CryptoKey;
  const delegated: webcrypto.SubtleCrypto["sign"] = async (params, usedKey, data) => {
    if (usedKey !== signingKey) return webcrypto.subtle.sign(params, usedKey, data);
    const bytes = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
    const signature = await key.sign(bytes);
    if (key.signingAlgorithm.name !== "ECDSA") return toArrayBuffer(signature);
    const raw = ecFormatter.toWebSignature({ name: "ECDSA", namedCurve } as webcrypto.EcKeyAlgorithm, signature);
    if (raw === null) throw new Error("CA key: not an ECDSA-Sig-Value");
    return raw;
  };
  // Node's WebCrypto methods check their receiver: every other member is the real one, bound to it.
  const subtle = overriding(webcrypto.subtle, { sign: delegated });
  const crypto = overriding(webcrypto, { subtle });
  return { crypto, signingKey, signingAlgorithm: key.signingAlgorithm };
}

function overriding<T extends object>(target: T, overrides: Partial<T>): T {
  return new Proxy(target, {
    get(real, property) {
      if (Object.hasOwn(overrides, property)) return overrides[property as keyof T];
      const value: unknown = Reflect.get(real, property, real);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(real) : value;
    },
  });
}

function toArrayBuffer(bytes: Buffer): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
