import { bytesOf, childrenOf, readWhole } from "./der-reader.js";

/**
 * The SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) of an EC key in the form every encoder writes:
 * id-ecPublicKey, a named curve, an uncompressed point (RFC 5480 §2.1.1, §2.2). Byte for byte, up
 * to the point's coordinates.
 */
const EC_FORMS = [
  { crv: "P-256", prefix: Buffer.from("3059301306072a8648ce3d020106082a8648ce3d03010703420004", "hex"), size: 32 },
  { crv: "P-384", prefix: Buffer.from("3076301006072a8648ce3d020106052b8104002203620004", "hex"), size: 48 },
] as const;
/** AlgorithmIdentifier of rsaEncryption, parameters NULL (RFC 3279 §2.3.1). */
const RSA_ALGORITHM = Buffer.from("300d06092a864886f70d0101010500", "hex");

/**
 * The curve and affine coordinates of an EC SubjectPublicKeyInfo in that form, as a JWK's fields
 * (RFC 7518 §6.2.1); undefined for any other encoding. Importing a key from a JWK skips OpenSSL
 * 3's generic decoder lookup, about half the cost of importing the same key from DER.
 */
export function ecPointOf(spki: Buffer): { readonly crv: "P-256" | "P-384"; readonly x: string; readonly y: string } | undefined {
  for (const form of EC_FORMS) {
    if (spki.length !== form.prefix.length + 2 * form.size || !spki.subarray(0, form.prefix.length).equals(form.prefix)) continue;
    const point = spki.subarray(form.prefix.length);
    return { crv: form.crv, x: point.subarray(0, form.size).toString("base64url"), y: point.subarray(form.size).toString("base64url") };
  }
  return undefined;
}

/**
 * True when a SubjectPublicKeyInfo is in the form a re-encoding gives back unchanged: an EC key in
 * the form above, or rsaEncryption with NULL parameters and a whole-byte key, in DER lengths.
 */
export function isCanonicalSpki(spki: Buffer): boolean {
  if (ecPointOf(spki) !== undefined) return true;
  try {
    const [algorithm, key, ...rest] = childrenOf(spki, readWhole(spki));
    return algorithm !== undefined && bytesOf(spki, algorithm).equals(RSA_ALGORITHM) && key?.tag === 0x03 && spki[key.contentStart] === 0 && rest.length === 0;
  } catch {
    return false;
  }
}
