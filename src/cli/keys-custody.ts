import { InvalidArgumentError } from "commander";
import type { KeyCustody } from "../credentials/key-custody.js";
import { tokenKeyCustody } from "../pkcs11/token-key-custody.js";
import { openTokenFromEnv } from "./cli-token.js";

export type CustodyKind = "files" | "pkcs11";

/** `--custody <files|pkcs11>`; its default is the brokers' own BROKER_SIGNING_KEYS. */
export const custodyOption = [
  "--custody <custody>",
  "where the keys are held: files (PEM files beside keyset.json) or pkcs11 (inside the token BROKER_PKCS11_* names)",
  (text: string): CustodyKind => {
    if (text !== "files" && text !== "pkcs11") throw new InvalidArgumentError("files or pkcs11");
    return text;
  },
  (process.env.BROKER_SIGNING_KEYS === "pkcs11" ? "pkcs11" : "files") as CustodyKind,
] as const;

/**
 * Runs `work` with the custody asked for: undefined for files (rotation's default), else the token
 * the BROKER_PKCS11_* variables name, logged in for the command and closed after it. Nothing here
 * reads or writes a private key: the token generates, signs and destroys.
 */
export async function withCustody<T>(kind: CustodyKind, work: (custody: KeyCustody | undefined) => Promise<T>): Promise<T> {
  if (kind === "files") return work(undefined);
  const client = await openTokenFromEnv("keys in the PKCS#11 token", { signingKeys: true });
  try {
    return await work(tokenKeyCustody(client));
  } finally {
    await client.close();
  }
}
