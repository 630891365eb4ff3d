import { randomBytes } from "node:crypto";
import type { CaKeyType, FreshCaKey, TokenCaKeyDestroyer, TokenCaKeyGenerator } from "../credentials/x509/ca-new-key.js";
import { parsePkcs11Uri, resolvePkcs11Key } from "./pkcs11-uri.js";
import { tokenCaKey } from "./token-ca-key.js";
import type { TokenClient } from "./token-client.js";
import type { KeySpec, TokenKeyInfo } from "./token-protocol.js";

const SPECS: Readonly<Record<CaKeyType, KeySpec>> = {
  "P-256": { kind: "ec", curve: "P-256" },
  "P-384": { kind: "ec", curve: "P-384" },
  "RSA-2048": { kind: "rsa", bits: 2048 },
  "RSA-3072": { kind: "rsa", bits: 3072 },
};

/**
 * The URI ca-set.json records for a token key: `pkcs11:object=<label>;id=<CKA_ID>` (RFC 7512,
 * both percent-encoded). The label finds the key; the id must match too (resolvePkcs11Key), so a
 * key relabelled to take another's name is refused by name before its public half is even
 * compared with the CA certificate's.
 */
export function pkcs11UriOf(info: TokenKeyInfo): string {
  const id = (info.id.match(/../g) ?? []).map((byte) => `%${byte}`).join("");
  return `pkcs11:object=${encodeURIComponent(info.label)}${id === "" ? "" : `;id=${id}`}`;
}

/**
 * `--in-token`: a new CA key pair generated inside the token (CKA_SENSITIVE true, CKA_EXTRACTABLE
 * false: token-operations.ts), under a provisional label until the CA (or request) it is for has a
 * name, since that name carries the certificate's key id; then relabelled to it.
 */
export function tokenCaKeyGenerator(client: TokenClient): TokenCaKeyGenerator {
  return async (type) => {
    let label = `pending-ca-${randomBytes(8).toString("hex")}`;
    const info = await client.call("generate", label, SPECS[type]);
    // Signs under whatever label the key has now: the provisional one, then its name.
    let signer = tokenCaKey(client, info);
    const fresh: FreshCaKey = {
      key: { ...signer, sign: (tbs) => signer.sign(tbs) },
      async keep(name) {
        await client.call("relabel", label, name);
        label = name;
        signer = tokenCaKey(client, { ...info, label });
        return pkcs11UriOf({ ...info, label });
      },
      async discard() {
        await client.call("destroy", label);
      },
    };
    return fresh;
  };
}

/**
 * `--retire … --destroy-key`: destroys both halves of the key `uri` names, unless one of the
 * `stillNamed` URIs resolves to the same key (the same CKA_ID): a CA that stays would lose its key.
 */
export function tokenCaKeyDestroyer(client: TokenClient): TokenCaKeyDestroyer {
  return async (uri, stillNamed) => {
    const info = await resolvePkcs11Key(client, parsePkcs11Uri(uri));
    for (const other of stillNamed) {
      const held = await resolvePkcs11Key(client, parsePkcs11Uri(other)).catch(() => undefined);
      if (held?.id === info.id) throw new Error(`a CA still in ca-set.json uses the same key (${other})`);
    }
    await client.call("destroy", info.label);
  };
}
