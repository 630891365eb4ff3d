import type { HttpFetch } from "../lib/http-fetch.js";

/** Limits for one outbound metadata or key-set fetch. */
export interface FetchLimits {
  /** Abort the request (headers and body) after this many milliseconds. */
  readonly timeoutMs: number;
  /** Refuse bodies larger than this many bytes. */
  readonly maxBytes: number;
}

/**
 * GETs `url` through the injected fetch and parses the body as JSON, bounded in time and size.
 * Throws an Error with a log-safe reason on any failure.
 */
export async function fetchJsonBounded(fetch: HttpFetch, url: string, limits: FetchLimits): Promise<unknown> {
  const signal = AbortSignal.timeout(limits.timeoutMs);
  let response: Response;
  try {
    response = await fetch(url, { signal, headers: { accept: "application/json" } });
  } catch (cause) {
    throw new Error(`GET ${url} failed: ${describe(cause)}`, { cause });
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined);
    throw new Error(`GET ${url} answered HTTP ${response.status}`);
  }
  const mediaType = jsonMediaType(response.headers.get("content-type"));
  if (mediaType.json === false) {
    await response.body?.cancel().catch(() => undefined);
    throw new Error(`GET ${url}: Content-Type ${mediaType.shown} is not a JSON media type (application/json or application/*+json)`);
  }
  const declared = Number(response.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > limits.maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw new Error(`GET ${url}: body of ${declared} bytes exceeds the limit of ${limits.maxBytes}`);
  }
  const bytes = await readCapped(response, url, limits.maxBytes);
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)) as unknown;
  } catch (cause) {
    throw new Error(`GET ${url}: body is not valid JSON`, { cause });
  }
}

/** RFC 9110 §5.6.2 token characters, for the type and subtype of a media type. */
const TOKEN = "[!#$%&'*+.^_`|~0-9a-z-]+";
const MEDIA_TYPE = new RegExp(`^(${TOKEN})/(${TOKEN})$`);

/**
 * Whether a Content-Type names JSON: `application/json` (RFC 8259 §11), or an `application/*+json`
 * structured-syntax type (RFC 6839 §3.1), e.g. `application/jwk-set+json` (RFC 7517 §8.5), in any
 * case, parameters (`charset`) ignored: the body is read as strict UTF-8 either way. A missing or
 * malformed header is not JSON. `shown` is a log-safe rendering of what was sent.
 */
function jsonMediaType(header: string | null): { readonly json: boolean; readonly shown: string } {
  if (header === null) return { json: false, shown: "(none)" };
  // RFC 9110 §8.3.1: media-type = type "/" subtype parameters; parameters start at the first ";".
  const essence = (header.split(";", 1)[0] ?? "").trim().toLowerCase();
  const shown = JSON.stringify(header.slice(0, 80));
  const match = MEDIA_TYPE.exec(essence);
  if (match === null) return { json: false, shown };
  const [, type, subtype = ""] = match;
  return { json: type === "application" && (subtype === "json" || (subtype.endsWith("+json") && subtype.length > "+json".length)), shown };
}

/** Reads the body counting bytes, because Content-Length may be absent or lie. */
async function readCapped(response: Response, url: string, maxBytes: number): Promise<Uint8Array> {
  if (response.body === null) return new Uint8Array();
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        await reader.cancel().catch(() => undefined);
        throw new Error(`GET ${url}: body exceeds the limit of ${maxBytes} bytes`);
      }
      chunks.push(value);
    }
  } catch (cause) {
    if (cause instanceof Error && cause.message.startsWith(`GET ${url}`)) throw cause;
    throw new Error(`GET ${url}: reading the body failed: ${describe(cause)}`, { cause });
  }
  return Buffer.concat(chunks);
}

function describe(cause: unknown): string {
  if (cause instanceof Error) return cause.name === "TimeoutError" ? "timed out" : cause.message;
  return String(cause);
}
