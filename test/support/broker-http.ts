/**
 * Talking to a broker under test, over a socket or in-process: answers read whole (JSON parsed
 * when it is), forms encoded the way clients send them, and a bounded poll.
 */

/** A response of the broker, body parsed when it is JSON. */
export interface BrokerResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: Record<string, unknown>;
}

/** Reads a whole answer: its text, and its JSON object when the text is one (else `{}`). */
export async function readAnswer(res: Response): Promise<BrokerResponse> {
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
  } catch {
    // not JSON: json stays empty, text holds the body
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Sends one request to a broker at `baseUrl` and reads the whole answer (JSON parsed when it is). */
export async function requestBroker(baseUrl: string, path: string, init?: RequestInit): Promise<BrokerResponse> {
  return readAnswer(await fetch(`${baseUrl}${path}`, init));
}

/** Encodes a form; array values repeat the parameter, in order. */
export function encodeForm(form: Readonly<Record<string, string | readonly string[]>>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(form)) {
    for (const item of typeof value === "string" ? [value] : value) params.append(name, item);
  }
  return params.toString();
}

/** Decodes a JWT segment (header or payload) without verifying anything. */
export function decodeSegment(token: string, index: 0 | 1): Record<string, unknown> {
  const segment = token.split(".")[index] ?? "";
  return JSON.parse(Buffer.from(segment, "base64url").toString("utf8")) as Record<string, unknown>;
}

/** Polls `probe` until it returns true, or fails after `timeoutMs`. */
export async function eventually(probe: () => Promise<boolean> | boolean, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** What tests send to a broker under test, however it runs. */
export interface BrokerClient {
  /** POSTs an application/x-www-form-urlencoded body to /token; arrays repeat the parameter. */
  exchange(form: Readonly<Record<string, string | readonly string[]>>): Promise<BrokerResponse>;
  /** The base form of a token exchange for `subjectToken` (type jwt unless given). */
  form(subjectToken: string, subjectTokenType?: string): Record<string, string>;
  /** GETs a path of the broker. */
  get(path: string): Promise<BrokerResponse>;
  /** Any request to a path of the broker. */
  request(path: string, init?: RequestInit): Promise<BrokerResponse>;
}

const GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt";

/** A {@link BrokerClient} over one way of sending a request to the broker. */
export function brokerClient(send: (path: string, init?: RequestInit) => Promise<BrokerResponse>): BrokerClient {
  return {
    exchange: (form) => send("/token", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: encodeForm(form) }),
    form: (subjectToken, subjectTokenType = JWT_TOKEN_TYPE) => ({ grant_type: GRANT_TYPE, subject_token: subjectToken, subject_token_type: subjectTokenType }),
    get: (path) => send(path),
    request: send,
  };
}
