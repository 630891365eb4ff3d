import { resolve } from "node:path";
import { z } from "zod";
import { silentLog } from "../lib/log.js";
import { openToken } from "../pkcs11/open-token-keys.js";
import type { TokenClient } from "../pkcs11/token-client.js";
import { PKCS11_ENV, pkcs11Settings } from "../pkcs11/token-settings.js";

/**
 * The bound on one token call from the CLI. An operator's command has nobody queued behind it,
 * and generating an RSA key pair in a busy token takes seconds: the serving bound
 * (BROKER_PKCS11_TIMEOUT_MS, default 2 s) is for requests; this one only keeps a dead token
 * from hanging the command.
 */
const CLI_TOKEN_TIMEOUT_MS = 30_000;

/**
 * Opens the token the BROKER_PKCS11_* variables name (the same ones the brokers read), logged in;
 * throws every problem with them at once, never the PIN. `purpose` starts the error. For the
 * signing keys (`broker keys --custody pkcs11`) the variables are read as BROKER_SIGNING_KEYS=pkcs11
 * reads them; a CA key needs them whatever BROKER_SIGNING_KEYS says.
 */
export async function openTokenFromEnv(purpose: string, options: { signingKeys?: boolean } = {}): Promise<TokenClient> {
  const parsed = z.object(PKCS11_ENV).safeParse(options.signingKeys ? { ...process.env, BROKER_SIGNING_KEYS: "pkcs11" } : process.env);
  if (!parsed.success) throw new Error(`${purpose}: ${parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")}`);
  const { settings, problems } = pkcs11Settings(parsed.data, resolve);
  if (settings === undefined && problems.length === 0) throw new Error(`${purpose}, but no token is configured (BROKER_PKCS11_MODULE, BROKER_PKCS11_TOKEN or BROKER_PKCS11_SLOT, BROKER_PKCS11_PIN_FILE or BROKER_PKCS11_PIN)`);
  if (settings === undefined) throw new Error(`${purpose}: ${problems.join("; ")}`);
  return openToken({ ...settings, timeoutMs: Math.max(settings.timeoutMs, CLI_TOKEN_TIMEOUT_MS) }, silentLog);
}

/**
 * Runs one CLI command with the token at hand but not opened: `token()` opens it on first use
 * (a command whose CAs are all files never touches it, nor needs the variables), the same
 * client every later time; it is closed when the command ends.
 */
export async function withLazyToken<T>(purpose: string, work: (token: () => Promise<TokenClient>) => Promise<T>): Promise<T> {
  let opened: Promise<TokenClient> | undefined;
  try {
    return await work(() => (opened ??= openTokenFromEnv(purpose)));
  } finally {
    if (opened !== undefined) await opened.then((client) => client.close()).catch(() => undefined);
  }
}
