/**
 * True when a setting that takes a key path holds an RFC 7512 PKCS#11 URI instead (a key inside the
 * token). The scheme is case-insensitive (RFC 3986 §3.1), so `PKCS11:object=…` is one too: the one
 * test every reader of BROKER_CA_KEY, ca-set.json and `broker ca --key` uses.
 */
export function isPkcs11Uri(text: string): boolean {
  return /^pkcs11:/i.test(text);
}
