import { createRequire } from "node:module";
import pino, { type Logger } from "pino";

/** Field names that hold a credential wherever they appear. */
const SECRET_FIELDS = ["subject_token", "actor_token", "access_token", "token", "authorization", "privateKey", "password", "secret", "d"];

/** Objects a log call may carry that could hold such a field one level down. */
const CONTAINERS = ["body", "form", "req", "request", "res", "response", "headers", "err", "error", "jwk", "key", "keys", "claims", "payload", "audit", "detail", "config", "options"];

/**
 * Paths pino censors. Tokens, keys and credentials must never reach a log line; the code logs
 * SHA-256 digests instead, and this is the net under that rule. Explicit paths rather than
 * `*.field` wildcards: the wildcards cost ~20 µs per request across the two lines of an
 * exchange (measured), the explicit list ~4 µs.
 */
const REDACTED_PATHS: readonly string[] = [
  ...SECRET_FIELDS.filter((field) => field !== "d"),
  ...CONTAINERS.flatMap((container) => SECRET_FIELDS.map((field) => `${container}.${field}`)),
  "headers.cookie",
  "req.headers.authorization",
  "req.headers.cookie",
  "request.headers.authorization",
  "request.headers.cookie",
];

/**
 * Whether pino-pretty (LOG_PRETTY's printer) can be loaded. It is a development dependency: the
 * image and any `npm ci --omit=dev` install leave it out.
 */
export function prettyPrinterInstalled(resolve: (id: string) => string = createRequire(import.meta.url).resolve): boolean {
  try {
    resolve("pino-pretty");
    return true;
  } catch {
    return false;
  }
}

/**
 * The broker's logger: JSON lines on stdout, written synchronously on purpose. pino's default
 * stdout stream is asynchronous: under load it fell behind and queued lines without bound (13 MB
 * after 27 s, RSS growing through a 60 s run), and a crash could lose audit records already
 * answered for. Synchronous, an audit record reaches the pipe before the answer it records
 * leaves, memory stays flat, and the measured CPU cost was within noise.
 *
 * LOG_PRETTY without pino-pretty installed logs JSON lines and says so, rather than failing the
 * start on a cosmetic setting.
 */
export function createLogger(options: { level: string; pretty?: boolean }, destination?: pino.DestinationStream, prettyInstalled = prettyPrinterInstalled): Logger {
  const prettyMissing = options.pretty === true && destination === undefined && !prettyInstalled();
  const pretty = options.pretty === true && destination === undefined && !prettyMissing;
  if (destination === undefined && !pretty) destination = pino.destination({ dest: 1, sync: true });
  const logger = pino(
    {
      level: options.level,
      base: { service: "credential-broker" },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: [...REDACTED_PATHS], censor: "[redacted]" },
      // Pretty output only when asked (LOG_PRETTY): redaction runs before the transport either way.
      ...(pretty ? { transport: { target: "pino-pretty", options: { colorize: true } } } : {}),
    },
    destination,
  );
  if (prettyMissing) logger.warn({}, "LOG_PRETTY is on but pino-pretty is not installed (a production install leaves it out): logging JSON lines");
  return logger;
}
