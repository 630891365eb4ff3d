import pino, { type Logger } from "pino";

/**
 * Paths pino censors wherever they appear. Tokens, keys and credentials must never reach a
 * log line; the code logs SHA-256 digests instead, and this is the net under that rule.
 */
export const REDACTED_PATHS = [
  "subject_token",
  "actor_token",
  "access_token",
  "token",
  "authorization",
  "privateKey",
  "password",
  "*.subject_token",
  "*.actor_token",
  "*.access_token",
  "*.token",
  "*.authorization",
  "*.privateKey",
  "*.d",
  "*.password",
  "headers.authorization",
  "headers.cookie",
  "*.headers.authorization",
  "*.headers.cookie",
];

export function createLogger(options: { level: string; pretty?: boolean }, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level: options.level,
      base: { service: "credential-broker" },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
      // Pretty output only when asked (LOG_PRETTY): redaction runs before the transport either way.
      ...(options.pretty && !destination ? { transport: { target: "pino-pretty", options: { colorize: true } } } : {}),
    },
    destination,
  );
}
