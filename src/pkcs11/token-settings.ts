import { z } from "zod";
import { isPkcs11Uri } from "../protocol/pkcs11-uri.js";
import { DEFAULT_TOKEN_TIMEOUT_MS } from "./token-client.js";

/**
 * The PKCS#11 settings (docs/configuration.md): BROKER_SIGNING_KEYS=pkcs11 puts the broker's
 * signing keys in a token named by these, and a `pkcs11:` CA key is found in the same token.
 * config.ts reads them with the rest.
 */
export const PKCS11_ENV = {
  BROKER_SIGNING_KEYS: z.enum(["files", "pkcs11"]).default("files"),
  BROKER_PKCS11_MODULE: z.string().min(1).optional(),
  BROKER_PKCS11_TOKEN: z.string().min(1).max(32, "a token label has at most 32 characters (PKCS#11 CK_TOKEN_INFO)").optional(),
  BROKER_PKCS11_SLOT: z
    .string()
    .regex(/^\d{1,10}$/, "must be a slot id (a whole number)")
    .transform(Number)
    .optional(),
  BROKER_PKCS11_PIN_FILE: z.string().min(1).optional(),
  BROKER_PKCS11_PIN: z.string().min(1).max(256).optional(),
  BROKER_PKCS11_TIMEOUT_MS: z
    .string()
    .default(String(DEFAULT_TOKEN_TIMEOUT_MS))
    .transform(Number)
    .pipe(z.number().int().min(10).max(60_000)),
};

/** Where the token is and how to log in; the PIN is read from its file when the token is opened. */
export interface Pkcs11Settings {
  readonly module: string;
  readonly token: string | undefined;
  readonly slot: number | undefined;
  readonly pin: { readonly file: string } | { readonly value: string };
  readonly timeoutMs: number;
}

type Pkcs11Env = z.infer<z.ZodObject<typeof PKCS11_ENV>>;

/**
 * The token settings, or every problem with them at once: the module, one of token label or slot,
 * one of PIN file or PIN. They are required when something is held in the token (the signing keys,
 * BROKER_SIGNING_KEYS=pkcs11, or a CA key named by a `pkcs11:` URI in BROKER_CA_KEY), and allowed
 * alone too: a managed CA folder may name a token key the broker only learns of at start.
 */
export function pkcs11Settings(e: Pkcs11Env, resolvePath: (path: string) => string, caKey?: string): { settings: Pkcs11Settings | undefined; problems: string[] } {
  const problems: string[] = [];
  const given = [e.BROKER_PKCS11_MODULE, e.BROKER_PKCS11_TOKEN, e.BROKER_PKCS11_SLOT, e.BROKER_PKCS11_PIN_FILE, e.BROKER_PKCS11_PIN].some((value) => value !== undefined);
  const needers = [...(e.BROKER_SIGNING_KEYS === "pkcs11" ? ["BROKER_SIGNING_KEYS=pkcs11"] : []), ...(caKey !== undefined && isPkcs11Uri(caKey) ? ["a pkcs11: BROKER_CA_KEY"] : [])];
  if (!given && needers.length === 0) return { settings: undefined, problems };
  const why = needers.length > 0 ? `required with ${needers.join(" and ")}` : "required with the other BROKER_PKCS11_* settings";
  if (e.BROKER_PKCS11_MODULE === undefined) problems.push(`BROKER_PKCS11_MODULE: ${why} (the PKCS#11 module's path)`);
  if ((e.BROKER_PKCS11_TOKEN === undefined) === (e.BROKER_PKCS11_SLOT === undefined)) problems.push("BROKER_PKCS11_TOKEN: set exactly one of BROKER_PKCS11_TOKEN (token label) and BROKER_PKCS11_SLOT (slot id)");
  if ((e.BROKER_PKCS11_PIN_FILE === undefined) === (e.BROKER_PKCS11_PIN === undefined)) problems.push("BROKER_PKCS11_PIN_FILE: set exactly one of BROKER_PKCS11_PIN_FILE and BROKER_PKCS11_PIN");
  if (problems.length > 0 || e.BROKER_PKCS11_MODULE === undefined) return { settings: undefined, problems };
  return {
    settings: {
      module: e.BROKER_PKCS11_MODULE,
      token: e.BROKER_PKCS11_TOKEN,
      slot: e.BROKER_PKCS11_SLOT,
      pin: e.BROKER_PKCS11_PIN_FILE !== undefined ? { file: resolvePath(e.BROKER_PKCS11_PIN_FILE) } : { value: e.BROKER_PKCS11_PIN ?? "" },
      timeoutMs: e.BROKER_PKCS11_TIMEOUT_MS,
    },
    problems,
  };
}
