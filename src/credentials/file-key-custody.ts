import { createPrivateKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../lib/atomic-file.js";
import type { BrokerSigningAlgorithm } from "../protocol/broker-tokens.js";
import { KeyNotHeld, rsaBitsFor, type KeyCustody, type KeyGeneration } from "./key-custody.js";
import { toSigningKey, type SigningKey } from "./signing-key.js";

/** Keys as PKCS#8 PEM files `<name>.pem` (mode 0600) in `dir`, beside keyset.json: this process holds them. */
export function fileKeyCustody(dir: string): KeyCustody {
  const file = (name: string) => join(dir, `${name}.pem`);
  return {
    kind: "files",
    async create(nameFor, generation) {
      const alg: BrokerSigningAlgorithm = generation.alg ?? "ES256";
      const privateKey = generatePrivateKey(generation);
      const { kid } = await toSigningKey(privateKey, alg);
      const name = nameFor(kid);
      await writeFileAtomic(file(name), privateKey.export({ format: "pem", type: "pkcs8" }).toString(), 0o600);
      return { name, kid, alg };
    },
    async open(name, alg): Promise<SigningKey> {
      let pem: string;
      try {
        pem = await readFile(file(name), "utf8");
      } catch (error) {
        throw new KeyNotHeld(`key ${JSON.stringify(name)}: cannot read ${file(name)} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
      }
      try {
        return await toSigningKey(createPrivateKey(pem), alg);
      } catch (error) {
        throw new Error(`${file(name)}: ${error instanceof Error ? error.message : String(error)}`);
      }
    },
    async destroy(name) {
      await rm(file(name), { force: true });
    },
  };
}

/** ES256: EC P-256; RS256, PS256: RSA of the checked size (RFC 7518 §3.3 asks for at least 2048). */
function generatePrivateKey(generation: KeyGeneration): KeyObject {
  const modulusLength = rsaBitsFor(generation);
  if (modulusLength === undefined) return generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  return generateKeyPairSync("rsa", { modulusLength }).privateKey;
}
