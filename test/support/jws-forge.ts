import { constants, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { importJWK, type CryptoKey, type JWK } from "jose";

/**
 * Raw JWS forging for differential tests: keys of every type the broker accepts (and a few it
 * must refuse), signing over any bytes with any scheme, and the ECDSA signature surgery
 * (malleation, DER, zero r or s) that a verifier must judge exactly as jose does.
 */

/** The signature algorithms forged here (the broker's ASYMMETRIC_ALGORITHMS). */
export const FORGE_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"] as const;
export type ForgeAlgorithm = (typeof FORGE_ALGORITHMS)[number];

/** One key pair: its private KeyObject to sign with, its public JWK to verify with. */
export interface ForgeKey {
  readonly name: string;
  readonly privateKey: KeyObject;
  readonly publicJwk: JWK;
  /** The algorithms jose can import this key for (empty when it can import it for none). */
  readonly algorithms: readonly ForgeAlgorithm[];
}

const RSA_ALGORITHMS: readonly ForgeAlgorithm[] = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];

function keyPair(name: string, generate: () => { privateKey: KeyObject; publicKey: KeyObject }, algorithms: readonly ForgeAlgorithm[]): ForgeKey {
  const { privateKey, publicKey } = generate();
  return { name, privateKey, publicJwk: publicKey.export({ format: "jwk" }) as JWK, algorithms };
}

/** Two keys of each accepted type, a short RSA key, and an Ed448 key (which "EdDSA" never means in jose 6). */
export function forgeKeys(): ForgeKey[] {
  const rsa = (bits: number) => () => generateKeyPairSync("rsa", { modulusLength: bits });
  const ec = (namedCurve: string) => () => generateKeyPairSync("ec", { namedCurve });
  return [
    keyPair("rsa-a", rsa(2048), RSA_ALGORITHMS),
    keyPair("rsa-b", rsa(2048), RSA_ALGORITHMS),
    keyPair("rsa-1024", rsa(1024), RSA_ALGORITHMS),
    keyPair("p256-a", ec("P-256"), ["ES256"]),
    keyPair("p256-b", ec("P-256"), ["ES256"]),
    keyPair("p384", ec("P-384"), ["ES384"]),
    keyPair("p521", ec("P-521"), ["ES512"]),
    keyPair("ed25519-a", () => generateKeyPairSync("ed25519"), ["EdDSA"]),
    keyPair("ed25519-b", () => generateKeyPairSync("ed25519"), ["EdDSA"]),
    keyPair("ed448", () => generateKeyPairSync("ed448"), []),
  ];
}

/** A verification CryptoKey as jose would import it: public for `alg`, or a variant that jose refuses or tolerates. */
export interface ForgeCryptoKey {
  readonly label: string;
  readonly key: CryptoKey;
}

/** Every CryptoKey jose can make of the keys: per algorithm, extractable or not, and one private key. */
export async function forgeCryptoKeys(keys: readonly ForgeKey[]): Promise<ForgeCryptoKey[]> {
  const out: ForgeCryptoKey[] = [];
  for (const key of keys) {
    for (const alg of key.algorithms) {
      out.push({ label: `${key.name} as ${alg}`, key: (await importJWK(key.publicJwk, alg, { extractable: true })) as CryptoKey });
    }
    const [first] = key.algorithms;
    if (first === undefined) continue;
    out.push({ label: `${key.name} as ${first}, not extractable`, key: (await importJWK(key.publicJwk, first, { extractable: false })) as CryptoKey });
    const privateJwk = key.privateKey.export({ format: "jwk" }) as JWK;
    out.push({ label: `${key.name} private, as ${first}`, key: (await importJWK(privateJwk, first)) as CryptoKey });
  }
  return out;
}

const HASH_BITS: Record<ForgeAlgorithm, number> = {
  RS256: 256, RS384: 384, RS512: 512, PS256: 256, PS384: 384, PS512: 512, ES256: 256, ES384: 384, ES512: 512, EdDSA: 0,
};

/**
 * Signs bytes with `alg`'s scheme and the given key, whatever the key's type: a mismatch
 * (an RSA scheme with an EC key) yields an empty signature. `pssSaltLength` overrides RFC 7518's.
 */
export function forgeSignature(alg: ForgeAlgorithm, key: KeyObject, input: Uint8Array, pssSaltLength?: number): Buffer {
  const bits = HASH_BITS[alg];
  const digest = bits === 0 ? null : `sha${bits}`;
  try {
    if (alg.startsWith("RS")) return sign(digest, input, { key, padding: constants.RSA_PKCS1_PADDING });
    if (alg.startsWith("PS")) return sign(digest, input, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: pssSaltLength ?? bits / 8 });
    if (alg.startsWith("ES")) return sign(digest, input, { key, dsaEncoding: "ieee-p1363" });
    return sign(null, input, key);
  } catch {
    return Buffer.alloc(0);
  }
}

/** The group orders of the NIST curves (SEC 2), for s → n − s. */
const CURVE_ORDER: Record<number, bigint> = {
  64: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  96: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  132: 0x01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
};

const toBigInt = (bytes: Uint8Array): bigint => (bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString("hex")}`));
const toBytes = (value: bigint, length: number): Buffer => Buffer.from(value.toString(16).padStart(length * 2, "0"), "hex");

/** ECDSA signature surgery on an IEEE P1363 `r || s`. */
export const ecdsa = {
  /** s → n − s: the other valid signature of the same message (WebCrypto does not enforce low-s). */
  malleate(signature: Buffer): Buffer {
    const half = signature.length / 2;
    const n = CURVE_ORDER[signature.length];
    if (n === undefined) return signature;
    const s = toBigInt(signature.subarray(half));
    return Buffer.concat([signature.subarray(0, half), toBytes(n - s, half)]);
  },
  /** The same r and s as an ASN.1 DER SEQUENCE of two INTEGERs (what JWS forbids, RFC 7518 §3.4). */
  toDer(signature: Buffer): Buffer {
    const half = signature.length / 2;
    const integer = (bytes: Buffer): Buffer => {
      let body = bytes;
      while (body.length > 1 && body[0] === 0 && (body[1] ?? 0) < 0x80) body = body.subarray(1);
      if ((body[0] ?? 0) >= 0x80) body = Buffer.concat([Buffer.from([0]), body]);
      return Buffer.concat([Buffer.from([0x02, body.length]), body]);
    };
    const content = Buffer.concat([integer(signature.subarray(0, half)), integer(signature.subarray(half))]);
    const length = content.length < 0x80 ? Buffer.from([content.length]) : Buffer.from([0x81, content.length]);
    return Buffer.concat([Buffer.from([0x30]), length, content]);
  },
  zeroR(signature: Buffer): Buffer {
    return Buffer.concat([Buffer.alloc(signature.length / 2), signature.subarray(signature.length / 2)]);
  },
  zeroS(signature: Buffer): Buffer {
    return Buffer.concat([signature.subarray(0, signature.length / 2), Buffer.alloc(signature.length / 2)]);
  },
  /** r = s = n: out of range, which a verifier must refuse (SEC 1 §4.1.4 step 1). */
  rAndSEqualOrder(signature: Buffer): Buffer {
    const half = signature.length / 2;
    const n = CURVE_ORDER[signature.length];
    return n === undefined ? signature : Buffer.concat([toBytes(n, half), toBytes(n, half)]);
  },
};

/** base64url without padding. */
export const b64u = (data: string | Uint8Array): string => Buffer.from(data).toString("base64url");

/** Signs `header.payload` (both already encoded, possibly hostile) and returns the compact JWS. */
export function forgeCompact(encodedHeader: string, encodedPayload: string, alg: ForgeAlgorithm, key: KeyObject): string {
  const input = Buffer.from(`${encodedHeader}.${encodedPayload}`, "latin1");
  return `${encodedHeader}.${encodedPayload}.${b64u(forgeSignature(alg, key, input))}`;
}
