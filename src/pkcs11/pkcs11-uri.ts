import { isPkcs11Uri } from "../protocol/pkcs11-uri.js";
import type { TokenClient } from "./token-client.js";
import type { TokenKeyInfo } from "./token-protocol.js";

/** The parts of an RFC 7512 PKCS#11 URI the broker uses to name a key. */
export interface Pkcs11KeyUri {
  /** `object=`: the key's CKA_LABEL. */
  readonly object: string | undefined;
  /** `id=`: the key's CKA_ID, as hex. */
  readonly id: string | undefined;
  /** `token=`: the token's label (default: BROKER_PKCS11_TOKEN's token). */
  readonly token: string | undefined;
}

/** Path attributes accepted (RFC 7512 §2.3); any other is refused rather than silently ignored. */
const ACCEPTED = new Set(["object", "id", "token", "type"]);


/**
 * Parses `pkcs11:object=broker-ca-1;token=broker` (RFC 7512): `object` and/or `id` name the key;
 * `type`, when given, must be `private`; query attributes (pin-value, module-path…) are refused,
 * since the PIN and the module come from BROKER_PKCS11_* only.
 */
export function parsePkcs11Uri(text: string): Pkcs11KeyUri {
  if (!isPkcs11Uri(text)) throw new Error("a PKCS#11 URI starts with pkcs11:");
  const rest = text.slice("pkcs11:".length);
  if (rest.includes("?")) throw new Error("PKCS#11 URI: query attributes (pin-value, module-path…) are not accepted; the PIN and module come from BROKER_PKCS11_*");
  const attributes = new Map<string, string>();
  for (const part of rest.split(";").filter((item) => item !== "")) {
    const at = part.indexOf("=");
    const name = at < 0 ? part : part.slice(0, at);
    if (!ACCEPTED.has(name)) throw new Error(`PKCS#11 URI: attribute ${JSON.stringify(name)} is not supported (object, id, token, type)`);
    if (attributes.has(name)) throw new Error(`PKCS#11 URI: ${name} given twice`);
    attributes.set(name, decode(part.slice(at + 1), name));
  }
  const type = attributes.get("type");
  if (type !== undefined && type !== "private") throw new Error("PKCS#11 URI: type must be private (the key that signs)");
  const id = attributes.get("id");
  const uri = { object: attributes.get("object"), id: id === undefined ? undefined : Buffer.from(id, "latin1").toString("hex"), token: attributes.get("token") };
  if (uri.object === undefined && uri.id === undefined) throw new Error("PKCS#11 URI: name the key with object= (its label) or id=");
  return uri;
}

/**
 * The key the URI names, in the token `client` is logged in to: by label, by id, or both (then
 * both must match). Throws when the URI names another token or the token holds no such key.
 */
export async function resolvePkcs11Key(client: TokenClient, uri: Pkcs11KeyUri): Promise<TokenKeyInfo> {
  const { tokenLabel } = client.session;
  if (uri.token !== undefined && uri.token !== tokenLabel) throw new Error(`PKCS#11 URI names token ${JSON.stringify(uri.token)}, but the broker is logged in to ${JSON.stringify(tokenLabel)} (BROKER_PKCS11_TOKEN)`);
  const info = uri.object !== undefined ? await client.call("findKey", uri.object) : await client.call("findKeyById", uri.id ?? "");
  const what = uri.object !== undefined ? `labelled ${JSON.stringify(uri.object)}` : `with id ${uri.id}`;
  if (info === undefined) throw new Error(`token ${JSON.stringify(tokenLabel)} holds no private key ${what}`);
  if (uri.id !== undefined && info.id !== uri.id) throw new Error(`the key ${what} has id ${info.id}, not ${uri.id}`);
  return info;
}

/** RFC 7512 §2.3: percent-encoded values; `id` is bytes (kept as latin1 to hex them). */
function decode(value: string, name: string): string {
  try {
    if (name !== "id") return decodeURIComponent(value);
    return value.replace(/%([0-9a-fA-F]{2})|[^%]/g, (match, hex: string | undefined) => (hex === undefined ? match : String.fromCharCode(Number.parseInt(hex, 16))));
  } catch {
    throw new Error(`PKCS#11 URI: ${name} is not valid percent-encoding`);
  }
}
