import { writeSync } from "node:fs";
import { createRequire } from "node:module";
import pino, { type Logger } from "pino";
import { BatchedLogOutput } from "./log-output.js";

/** What a credential's value becomes in a line. */
const CENSOR = "[redacted]";

/** Field names that hold a credential wherever they appear. */
const SECRET_FIELDS = ["subject_token", "actor_token", "access_token", "token", "authorization", "privateKey", "password", "secret", "d"];

/**
 * Objects a log call may carry that could hold such a field one level down. `audit` (the audit
 * record, on every decision's line) is one too, censored by {@link censorSecretFields} instead.
 */
const CONTAINERS = ["body", "form", "req", "request", "res", "response", "headers", "err", "error", "jwk", "key", "keys", "claims", "payload", "detail", "config", "options"];

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
 * The audit record's net: each of SECRET_FIELDS directly under `audit` censored, as a redaction
 * path `audit.<field>` would, but as a serializer. pino's redaction (@pinojs/redact) clones the
 * record and parses its paths again on every line: ~2.5 µs of the ~6 µs pino spent on an audit
 * line (bench/README.md, "Audit lines batched per event-loop turn"). This looks the names up and
 * copies the record only when one is there (never, by construction: records carry SHA-256
 * digests), so the line is byte for byte what the redaction path wrote.
 */
function censorSecretFields(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return value;
  let censored: Record<string, unknown> | undefined;
  for (const field of SECRET_FIELDS) {
    if (!Object.prototype.hasOwnProperty.call(value, field)) continue;
    censored ??= { ...(value as Record<string, unknown>) };
    censored[field] = CENSOR;
  }
  return censored ?? value;
}

/**
 * pino's isoTime, formatted once per millisecond: the lines of one turn often share it. The same
 * text `pino.stdTimeFunctions.isoTime` writes.
 */
function isoTimeOncePerMillisecond(): () => string {
  let millisecond = -1;
  let text = "";
  return () => {
    const now = Date.now();
    if (now !== millisecond) {
      millisecond = now;
      text = `,"time":"${new Date(now).toISOString()}"`;
    }
    return text;
  };
}

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
 * What a request waits for before its answer leaves: its lines on the output (request-context.ts).
 * `written`: undefined when every line logged so far is written, else settles when they are at
 * the end of the turn (rejects if the write failed); `writtenNow`: the same, written at once.
 */
export type LogWritten = Pick<BatchedLogOutput, "written" | "writtenNow">;

/** The batched output of each logger createLogger made with one; children share their root's. */
const OUTPUTS = new WeakMap<Logger, LogWritten>();

/**
 * What to await for `logger`'s lines to be on its output; undefined for a logger whose writes are
 * done when the call returns (a test's in-memory destination) or never awaited (LOG_PRETTY).
 */
export function logWritten(logger: Logger): LogWritten | undefined {
  return OUTPUTS.get(logger);
}

/**
 * The broker's logger: JSON lines on stdout, written synchronously, one write(2) per event-loop
 * turn (BatchedLogOutput). pino's default stdout stream is asynchronous: under load it fell behind
 * and queued lines without bound (13 MB after 27 s, RSS growing through a 60 s run), and a crash
 * could lose audit records already answered for. Here the lines of a turn are written at its end,
 * the requests answered in it wait for that write (logWritten), so an audit record reaches the
 * pipe before the answer it records leaves, memory stays flat, and at any exit (process.exit,
 * SIGTERM's drain, an uncaught exception) what is pending is written first.
 *
 * LOG_PRETTY without pino-pretty installed logs JSON lines and says so, rather than failing the
 * start on a cosmetic setting.
 */
export function createLogger(options: { level: string; pretty?: boolean }, destination?: pino.DestinationStream | BatchedLogOutput, prettyInstalled = prettyPrinterInstalled): Logger {
  const prettyMissing = options.pretty === true && destination === undefined && !prettyInstalled();
  const pretty = options.pretty === true && destination === undefined && !prettyMissing;
  if (destination === undefined && !pretty) destination = stdoutOutput();
  const logger = pino(
    {
      level: options.level,
      base: { service: "credential-broker" },
      timestamp: isoTimeOncePerMillisecond(),
      redact: { paths: [...REDACTED_PATHS], censor: CENSOR },
      serializers: { audit: censorSecretFields },
      // Pretty output only when asked (LOG_PRETTY): redaction runs before the transport either way.
      ...(pretty ? { transport: { target: "pino-pretty", options: { colorize: true } } } : {}),
    },
    destination,
  );
  if (destination instanceof BatchedLogOutput) OUTPUTS.set(logger, destination);
  if (prettyMissing) logger.warn({}, "LOG_PRETTY is on but pino-pretty is not installed (a production install leaves it out): logging JSON lines");
  return logger;
}

/** Standard output, batched per turn, written out at any exit. */
function stdoutOutput(): BatchedLogOutput {
  const output = new BatchedLogOutput({ fd: 1, onFailure: sayOnceOnStderr() });
  process.on("exit", () => output.flushSync());
  return output;
}

/**
 * The log output failed: say so on stderr, once per kind of error (the answers that waited for
 * the lines are 500s, so this is how an operator learns why).
 */
function sayOnceOnStderr(): (error: NodeJS.ErrnoException) => void {
  let last: string | undefined;
  return (error) => {
    const code = error.code ?? error.message;
    if (code === last) return;
    last = code;
    try {
      writeSync(2, `log output failed (${code}): requests answer 500 until log lines can be written again\n`);
    } catch {
      // stderr is gone too: nothing left to tell.
    }
  };
}
