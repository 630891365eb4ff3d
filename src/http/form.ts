import type { Context } from "hono";
import { BrokerError } from "../errors/broker-error.js";
import type { FormFields } from "../protocol/form-fields.js";
import type { AppEnv } from "./app-env.js";
import { readBody } from "./read-body.js";

const FORM_MEDIA_TYPE = "application/x-www-form-urlencoded";

/**
 * Reads an `application/x-www-form-urlencoded` body (RFC 6749 §4.1.3 / RFC 8693 §2.1) with
 * our own parser: Hono's parseBody keeps the last of repeated parameters and is ~10x slower.
 */
export async function readForm(c: Context<AppEnv>, repeatable: ReadonlySet<string>, maxBytes: number): Promise<FormFields> {
  const contentType = c.req.header("content-type");
  if (!contentType || contentType.split(";")[0]?.trim().toLowerCase() !== FORM_MEDIA_TYPE) {
    throw new BrokerError("invalid_request", `the request body must be ${FORM_MEDIA_TYPE}`, { reason: "unsupported_media_type" });
  }
  return parseForm(decodeUtf8(await readBody(c, maxBytes)), repeatable);
}

/**
 * Parses form text into fields. Repeated parameters are refused unless `repeatable`
 * (RFC 6749 §3.2: "Request and response parameters MUST NOT be included more than once");
 * an empty value counts as omitted (RFC 6749 §3.1).
 */
export function parseForm(body: string, repeatable: ReadonlySet<string>): FormFields {
  // URLSearchParams would turn invalid UTF-8 into U+FFFD, so different bytes would read alike.
  const runs = body.match(NON_ASCII_PERCENT_RUNS);
  if (runs !== null) for (const run of runs) decodeUtf8(Buffer.from(run.replaceAll("%", ""), "hex"));
  const values = new Map<string, string[]>();
  for (const [name, value] of new URLSearchParams(body)) {
    if (value === "") continue;
    const seen = values.get(name);
    if (seen === undefined) {
      values.set(name, [value]);
      continue;
    }
    if (!repeatable.has(name)) {
      throw new BrokerError("invalid_request", `parameter ${safeName(name)} must not be repeated`);
    }
    seen.push(value);
  }
  return {
    single: (name) => values.get(name)?.[0],
    all: (name) => values.get(name) ?? [],
  };
}

/**
 * Consecutive percent-encoded bytes of 0x80 and above: together they must be whole UTF-8
 * characters. Escaped ASCII bytes (%3A, %2F: most of every request's escapes) are left out: one is
 * a whole character by itself and cannot sit inside a multi-byte one, so a run of escapes is
 * valid UTF-8 exactly when each of its runs of high bytes is. Checking those alone decides the
 * same, without a string and a Buffer made for every `%3A` of every request.
 */
const NON_ASCII_PERCENT_RUNS = /(?:%[89A-Fa-f][0-9A-Fa-f])+/g;

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** RFC 6749 Appendix B: form bodies are UTF-8; anything else is a malformed request, not a guess. */
function decodeUtf8(bytes: Uint8Array): string {
  try {
    return STRICT_UTF8.decode(bytes);
  } catch {
    throw new BrokerError("invalid_request", "the request body is not UTF-8 form encoding");
  }
}

/** Parameter names are caller-controlled: echo only a short, printable form. */
function safeName(name: string): string {
  return /^[A-Za-z0-9_.-]{1,64}$/.test(name) ? name : "(unprintable)";
}
