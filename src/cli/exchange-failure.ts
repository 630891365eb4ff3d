/**
 * How `broker exchange` can fail, and the exit status of each (docs/ci.md): a pipeline tells a
 * refusal it must fix from an outage it may wait out, and both from a mistake in its own command.
 */
export type FailureKind =
  /** Bad options or inputs (no subject token, `--out` not writable, a bad DPoP key): nothing was sent. */
  | "usage"
  /** The broker (or the CI runner) said no for good: retrying the same request cannot help. */
  | "refused"
  /** Network errors, timeouts, 429 and 502/503/504, still failing after the bounded retries. */
  | "unavailable"
  /** Anything else: an answer the CLI cannot use (a 500, a 200 without a token, ...). */
  | "failed";

/** The exit status of each kind of failure; 0 is success. */
export const EXIT_STATUS: Readonly<Record<FailureKind, number>> = { failed: 1, refused: 2, unavailable: 3, usage: 64 };

/** A failure to report: the message never contains a token. */
export class ExchangeFailure extends Error {
  override readonly name = "ExchangeFailure";

  constructor(
    message: string,
    readonly kind: FailureKind = "failed",
    /** For `unavailable`: how long the server asked the client to wait (Retry-After), seconds. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** HTTP statuses worth another try: rate limited, or a gateway or server that is overloaded or restarting. */
const RETRYABLE_STATUSES = new Set([429, 502, 503, 504]);

/** The kind of failure an HTTP answer that is not a success means. */
export function failureKindOf(status: number): FailureKind {
  if (RETRYABLE_STATUSES.has(status)) return "unavailable";
  return status >= 400 && status < 500 ? "refused" : "failed";
}

/** RFC 9110 §10.2.3: delay-seconds or an HTTP-date; undefined when absent or unreadable. */
export function retryAfterSeconds(header: string | null, nowMs: number): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  return Number.isFinite(at) ? Math.max(0, Math.ceil((at - nowMs) / 1000)) : undefined;
}
