import { createPrivateKey, generateKeyPairSync } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../lib/atomic-file.js";
import type { KeyCustody } from "./key-custody.js";
import { toSigningKey, type SigningKey } from "./signing-key.js";

/** Keys as PKCS#8 PEM files `<name>.pem` (mode 0600) in `dir`, beside keyset.json: this process holds them. */
export function fileKeyCustody(dir: string): KeyCustody {
  const file = (name: string) => join(dir, `${name}.pem`);
  return {
    kind: "files",
    async create(nameFor) {
      const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const { kid } = await toSigningKey(privateKey);
      const name = nameFor(kid);
      await writeFileAtomic(file(name), privateKey.export({ format: "pem", type: "pkcs8" }).toString(), 0o600);
      return { name, kid };
    },
    async open(name): Promise<SigningKey> {
      let pem: string;
      try {
        pem = await readFile(file(name), "utf8");
      } catch (error) {
        throw new Error(`key ${JSON.stringify(name)}: cannot read ${file(name)} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
      }
      try {
        return await toSigningKey(createPrivateKey(pem));
      } catch (error) {
        throw new Error(`${file(name)}: ${error instanceof Error ? error.message : String(error)}`);
      }
    },
    async destroy(name) {
      await rm(file(name), { force: true });
    },
  };
}
