/**
 * The one way tests assert a refusal: an RFC 6749 §5.2 error answer with exactly this status and
 * `error`, a safe `error_description`, nothing issued, nothing internal leaked, and not cacheable.
 */
import { expect } from "vitest";
import type { BrokerResponse } from "./broker-http.js";

/** What a refusal must be. */
export interface Refusal {
  readonly status: number;
  /** The RFC 6749 §5.2 (or RFC 6750 §3.1, RFC 9449) error code. */
  readonly error: string;
  /** The exact error_description, or a pattern it must match. */
  readonly description?: string | RegExp;
}

/** Signs of an internal error leaking: stack frames, source paths, module names. */
const LEAK_PATTERNS = [/\n\s*at\s/, /\bat .+:\d+:\d+/, /\/work\//, /node_modules/, /\.ts:\d+/, /\bsrc\//, /Error: /];

/**
 * Asserts a refusal (read whole: `readAnswer(await app.request(…))` for a fetch Response): the
 * status and error code, a string error_description (equal to or matching `description`), no
 * access token and nothing shaped like a JWT in the body, no stack trace or file path, and
 * `Cache-Control: no-store` (every error the broker writes carries it, RFC 6749 §5.1; only the
 * router's 405 does not).
 */
export function expectRefusal(res: BrokerResponse, refusal: Refusal): void {
  expect(res.status, res.text).toBe(refusal.status);
  expect(res.json.error, res.text).toBe(refusal.error);
  expect(typeof res.json.error_description, res.text).toBe("string");
  if (typeof refusal.description === "string") expect(res.json.error_description).toBe(refusal.description);
  else if (refusal.description !== undefined) expect(res.json.error_description).toMatch(refusal.description);
  expect(res.json).not.toHaveProperty("access_token");
  expect(res.text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.eyJ/);
  if (refusal.status !== 405) expect(res.headers.get("cache-control")).toBe("no-store");
  expectNoInternals(res);
}

/**
 * Asserts a response carries no stack trace or file path and is no 5xx, except the one the
 * contract allows: 503 temporarily_unavailable when a dependency (issuer keys, Redis) is down.
 */
export function expectNoInternals(res: BrokerResponse): void {
  if (!(res.status === 503 && res.json.error === "temporarily_unavailable")) expect(res.status, res.text).toBeLessThan(500);
  for (const pattern of LEAK_PATTERNS) expect(res.text, `response leaks ${pattern}`).not.toMatch(pattern);
}
