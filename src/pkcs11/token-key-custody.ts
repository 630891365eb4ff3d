import { randomBytes } from "node:crypto";
import { calculateJwkThumbprint, type JWK } from "jose";
import { KeyNotHeld, rsaBitsFor, type KeyCustody } from "../credentials/key-custody.js";
import type { KeySpec } from "./token-protocol.js";
import type { TokenClient } from "./token-client.js";
import { tokenBrokerSigningKey } from "./token-signer.js";

/**
 * Signing keys inside a PKCS#11 token: a keyset name is the key pair's CKA_LABEL; `create`
 * generates the pair inside the token (sensitive, never extractable), `destroy` destroys both
 * halves. The token's CKA_ID is 16 random bytes (the kid is the public key's thumbprint, which
 * anyone can recompute; the label names the key).
 */
export function tokenKeyCustody(client: TokenClient): KeyCustody {
  return {
    kind: "pkcs11",
    async create(nameFor, generation) {
      // The kid (and so the name) is known only once the pair exists: generate under a
      // provisional label, then relabel it before anything can name it.
      const provisional = `pending-${randomBytes(8).toString("hex")}`;
      const bits = rsaBitsFor(generation);
      const spec: KeySpec = bits === undefined ? { kind: "ec", curve: "P-256" } : { kind: "rsa", bits };
      const info = await client.call("generate", provisional, spec);
      const kid = await calculateJwkThumbprint(info.publicJwk as JWK, "sha256");
      const name = nameFor(kid);
      await client.call("relabel", provisional, name);
      return { name, kid, alg: generation.alg ?? "ES256" };
    },
    async open(name, alg) {
      const info = await client.call("findKey", name);
      if (info === undefined) throw new KeyNotHeld(`key ${JSON.stringify(name)}: no key pair labelled so in token "${client.session.tokenLabel}"`);
      return tokenBrokerSigningKey(client, info, alg);
    },
    async list() {
      const keys = await client.call("listKeys");
      return Promise.all(keys.map(async (info) => ({ name: info.label, kid: await calculateJwkThumbprint(info.publicJwk as JWK, "sha256") })));
    },
    async destroy(name) {
      await client.call("destroy", name);
    },
    async readiness(name) {
      const token = await client.readiness();
      if (!token.ok) return token;
      // The active key must still be there (destroyed underneath: every signature would fail).
      const found = await client.call("findKey", name).then(
        (info) => info !== undefined,
        () => false,
      );
      return found ? token : { ok: false, detail: `the active signing key ${JSON.stringify(name)} is missing from the token` };
    },
  };
}
