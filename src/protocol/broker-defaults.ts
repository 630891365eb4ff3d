// Defaults that both the broker's settings (src/config.ts) and the CLI that runs beside it or
// talks to it (src/cli/) read. Written once here: the CLI may not import the server's config.

/** BROKER_HOST, BROKER_PORT: where the broker listens unless told otherwise (loopback only). */
export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_PORT = 8080;

/** The issuer URL of a broker listening on `port` without BROKER_ISSUER_URL: the base URL the CLI calls by default. */
export function defaultBrokerUrl(port: number | string = DEFAULT_PORT): string {
  return `http://${DEFAULT_HOST}:${port}`;
}

/** BROKER_KEYS_DIR, BROKER_POLICY_DIR. */
export const DEFAULT_KEYS_DIR = "keys";
export const DEFAULT_POLICY_DIR = "policies";

/** The ceiling of BROKER_MAX_TOKEN_LIFETIME, seconds: no access token lives longer. */
export const TOKEN_LIFETIME_CEILING_SECONDS = 3600;

/** GET /admin/revocations: entries per page when `limit` is not given, and the most it may ask for. */
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;
