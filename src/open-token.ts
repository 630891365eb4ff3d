/**
 * The process's one PKCS#11 token session (BROKER_PKCS11_*), opened on first need and shared by
 * whatever holds keys there: the signing keys (BROKER_SIGNING_KEYS=pkcs11) and any CA key named
 * by a `pkcs11:` URI (BROKER_CA_KEY, or a CA in the managed folder's ca-set.json). One session
 * means one worker thread and one login, whatever the number of keys.
 */
import type { Logger } from "pino";
import type { CaKey } from "./credentials/x509/ca-key.js";
import type { TokenCaKeyResolver } from "./credentials/x509/ca-set.js";
import type { BrokerMetrics } from "./metrics/broker-metrics.js";
import { openToken } from "./pkcs11/open-token-keys.js";
import { openTokenCaKey } from "./pkcs11/token-ca-key.js";
import type { TokenClient, TokenClientOptions } from "./pkcs11/token-client.js";
import type { Pkcs11Settings } from "./pkcs11/token-settings.js";

/** Opens a token: the real one (pkcs11/open-token-keys.ts), or a test's wrapper around its worker. */
export type TokenOpenerOption = (settings: Pkcs11Settings, log: Logger, options: Pick<TokenClientOptions, "onCall">) => Promise<TokenClient>;

export interface SharedToken {
  /** The configured token's settings; undefined when BROKER_PKCS11_* are not set. */
  readonly settings: Pkcs11Settings | undefined;
  /** The logged-in session, opened on the first call; every later call shares it. */
  client(): Promise<TokenClient>;
  /** The CA key a `pkcs11:` URI names in the token: what the CA loaders call for such a key. */
  readonly caKey: TokenCaKeyResolver;
  /** Closes the session if it was opened (idempotent). */
  close(): Promise<void>;
}

/** The token BROKER_PKCS11_* name, with the process's call metrics attached; nothing is opened yet. */
export function sharedToken(settings: Pkcs11Settings | undefined, logger: Logger, metrics: BrokerMetrics, opener: TokenOpenerOption = openToken): SharedToken {
  let opened: Promise<TokenClient> | undefined;
  const log = logger.child({ component: "pkcs11" });
  const client = (): Promise<TokenClient> => {
    if (settings === undefined) {
      return Promise.reject(new Error("no PKCS#11 token is configured (BROKER_PKCS11_MODULE, BROKER_PKCS11_TOKEN or BROKER_PKCS11_SLOT, BROKER_PKCS11_PIN_FILE)"));
    }
    opened ??= opener(settings, log, {
      onCall: (call, outcome, seconds) => {
        metrics.pkcs11Calls.inc({ call, outcome });
        if (seconds !== undefined) metrics.pkcs11Duration.observe({ call }, seconds);
      },
    });
    // A session that failed to open is not kept: the next caller tries again and reports its own reason.
    opened.catch(() => {
      opened = undefined;
    });
    return opened;
  };
  return {
    settings,
    client,
    caKey: async (uri: string): Promise<CaKey> => openTokenCaKey(await client(), uri),
    async close() {
      const session = opened;
      opened = undefined;
      await session?.then((each) => each.close()).catch(() => undefined);
    },
  };
}
