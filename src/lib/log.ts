/**
 * The logging surface the domain uses. pino's Logger satisfies it structurally, so only
 * the composition root and the audit sink import pino.
 */
export interface Log {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** A Log that drops everything: the default for tests that do not read logs. */
export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };
