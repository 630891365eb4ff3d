import { access, readFile } from "node:fs/promises";
import type { Log } from "../lib/log.js";
import { TokenClient, type TokenClientOptions } from "./token-client.js";
import type { TokenOpenSettings } from "./token-protocol.js";
import type { Pkcs11Settings } from "./token-settings.js";

/**
 * Opens the token the settings name: the module loaded, the token found, the user logged in.
 * Throws one error listing every problem it can see at once (an unreadable PIN file and a missing
 * module together, say); the PIN itself never appears in it.
 */
export async function openToken(settings: Pkcs11Settings, log: Log, options: Omit<TokenClientOptions, "log" | "timeoutMs"> = {}): Promise<TokenClient> {
  const problems: string[] = [];
  const pin = await readPin(settings).catch((error: Error) => {
    problems.push(error.message);
    return undefined;
  });
  const moduleThere = await access(settings.module).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      problems.push(`BROKER_PKCS11_MODULE: cannot read ${settings.module} (${error.code ?? error.message})`);
      return false;
    },
  );
  if (pin === undefined || !moduleThere) throw new Error(problems.join("; "));
  const open: TokenOpenSettings = { module: settings.module, pin, ...(settings.token === undefined ? {} : { token: settings.token }), ...(settings.slot === undefined ? {} : { slot: settings.slot }) };
  try {
    return await TokenClient.open(open, { ...options, log, timeoutMs: settings.timeoutMs });
  } catch (error) {
    throw new Error(`PKCS#11 module ${settings.module}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The PIN from BROKER_PKCS11_PIN_FILE (one line; the trailing newline dropped) or BROKER_PKCS11_PIN. */
async function readPin(settings: Pkcs11Settings): Promise<string> {
  if ("value" in settings.pin) return settings.pin.value;
  const { file } = settings.pin;
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new Error(`BROKER_PKCS11_PIN_FILE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  const pin = text.replace(/\r?\n$/, "");
  if (pin === "" || /[\r\n]/.test(pin)) throw new Error(`BROKER_PKCS11_PIN_FILE: ${file} must hold the PIN on one line`);
  return pin;
}
