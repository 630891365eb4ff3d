/**
 * Server limits over raw sockets (issue 7, abuse resistance): the headers timeout, the request
 * timeout, the 16 KiB header limit and the body limit (chunked, understated and overstated
 * Content-Length), and slowloris connections not starving a normal client. The broker runs with
 * small limits so each case ends quickly; every wait is a deadline (the limit plus slack), never a
 * speed, and every socket is destroyed in afterAll.
 */
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Hex } from "../../support/attack-helpers.js";
import { eventually, GRANT_TYPE, OIDC_SUBJECT, startBrokerFixture, TOKEN_TYPES, type BrokerFixture } from "../../support/broker-fixture.js";

const MAX_BODY = 4096;
const HEADERS_TIMEOUT_MS = 1_000;
const REQUEST_TIMEOUT_MS = 2_000;
/** Slack on top of a limit: process scheduling, the server's timeout check, a loaded CI machine. */
const SLACK_MS = 3_000;

let fx: BrokerFixture;
const sockets = new Set<Socket>();
const timers = new Set<NodeJS.Timeout>();
const usedTokens: string[] = [];

beforeAll(async () => {
  fx = await startBrokerFixture({
    env: {
      BROKER_MAX_BODY_BYTES: String(MAX_BODY),
      BROKER_HEADERS_TIMEOUT: `${HEADERS_TIMEOUT_MS / 1000}s`,
      BROKER_REQUEST_TIMEOUT: `${REQUEST_TIMEOUT_MS / 1000}s`,
    },
  });
});

afterAll(async () => {
  for (const timer of timers) clearInterval(timer);
  for (const socket of sockets) socket.destroy();
  await fx?.close();
});

/** A raw connection to the broker that records every byte it receives and when it closed. */
interface RawConnection {
  readonly socket: Socket;
  received(): string;
  /** Resolves with the ms since `connect` when the server closes (or resets) the connection. */
  readonly closed: Promise<number>;
  isClosed(): boolean;
  /** Writes `piece` every `everyMs` until the connection closes (a slowloris). */
  trickle(piece: string, everyMs: number): void;
}

async function open(): Promise<RawConnection> {
  const socket = connect({ host: "127.0.0.1", port: fx.broker.port });
  sockets.add(socket);
  const started = Date.now();
  let data = "";
  let done = false;
  socket.setEncoding("latin1");
  socket.on("data", (chunk: string) => (data += chunk));
  // A reset (ECONNRESET, EPIPE from a write after the server closed) is a close too.
  socket.on("error", () => undefined);
  const closed = new Promise<number>((resolve) =>
    socket.once("close", () => {
      done = true;
      resolve(Date.now() - started);
    }),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  return {
    socket,
    received: () => data,
    closed,
    isClosed: () => done,
    trickle(piece, everyMs) {
      const timer = setInterval(() => {
        if (done || socket.destroyed) return void clearInterval(timer);
        socket.write(piece);
      }, everyMs);
      timers.add(timer);
      void closed.then(() => clearInterval(timer));
    },
  };
}

/** Waits for the connection to close, failing after `deadlineMs` (from the call). */
async function closedWithin(conn: RawConnection, deadlineMs: number): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`connection still open after ${deadlineMs} ms; received: ${conn.received().slice(0, 300)}`)), deadlineMs);
  });
  try {
    return await Promise.race([conn.closed, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** The status codes of every HTTP response in the raw bytes a connection received. */
function statuses(raw: string): number[] {
  return [...raw.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((match) => Number(match[1]));
}

/** Asserts that raw response bytes carry no success, no server error and nothing issued. */
function expectNothingIssued(raw: string): void {
  for (const status of statuses(raw)) {
    expect(status, raw).toBeGreaterThanOrEqual(400);
    expect(status, raw).toBeLessThan(500);
  }
  expect(raw).not.toContain("access_token");
  expect(raw).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.eyJ/);
  expect(raw).not.toMatch(/\n\s*at\s|\/work\/|node_modules/);
}

async function freshSubjectToken(): Promise<string> {
  const token = await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT }, { kid: undefined });
  usedTokens.push(token);
  return token;
}

/** The status the broker's access log recorded for a request id (polled: stdout is read asynchronously). */
async function loggedStatus(requestId: string): Promise<unknown> {
  const find = () => fx.broker.logRecords().find((record) => record.msg === "request" && record.requestId === requestId);
  await eventually(() => find() !== undefined, 5_000, `the access log line of ${requestId}`);
  return find()?.status;
}

/**
 * Asserts the audit log holds no "allow" for this subject token. The requests above never reach
 * verification (so there is no deny record to wait for): give stdout a moment, then look.
 */
async function expectNotIssuedFor(token: string): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(allowRecords(token)).toEqual([]);
}

/** The audit log's "allow" records for a subject token (by its SHA-256 digest). */
function allowRecords(token: string): Record<string, unknown>[] {
  const digest = sha256Hex(token);
  return fx.broker
    .logRecords()
    .filter((record) => record.channel === "audit")
    .map((record) => record.audit as Record<string, unknown>)
    .filter((audit) => audit.subjectTokenSha256 === digest && audit.decision === "allow");
}

const formOf = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

async function validForm(): Promise<string> {
  return formOf({ grant_type: GRANT_TYPE, subject_token: await freshSubjectToken(), subject_token_type: TOKEN_TYPES.jwt, audience: "https://a.example.com" });
}

const head = (lines: readonly string[]) => `${lines.join("\r\n")}\r\n\r\n`;
const tokenHead = (extra: readonly string[]) =>
  head(["POST /token HTTP/1.1", `Host: 127.0.0.1:${fx.broker.port}`, "Content-Type: application/x-www-form-urlencoded", ...extra]);

describe("control", () => {
  it("a valid exchange over a raw socket is issued (so the refusals below are the limits, not the form)", async () => {
    const conn = await open();
    const body = await validForm();
    conn.socket.write(`${tokenHead([`Content-Length: ${Buffer.byteLength(body)}`, "Connection: close"])}${body}`);
    await closedWithin(conn, 10_000);
    expect(statuses(conn.received())).toEqual([200]);
    expect(conn.received()).toContain('"access_token"');
    // And the audit check used below does see an issuance (it is not vacuous).
    const token = usedTokens.at(-1) ?? "";
    await eventually(() => allowRecords(token).length === 1, 5_000, "the allow record of the control exchange");
  });
});

describe("timeouts", () => {
  it("headers sent slowly past the headers timeout: the server answers 408 or closes, within the bound", async () => {
    const conn = await open();
    conn.socket.write(`POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\n`);
    // One more header line every 200 ms, never the blank line that ends the block.
    let n = 0;
    const timer = setInterval(() => {
      if (conn.isClosed()) return void clearInterval(timer);
      n += 1;
      conn.socket.write(`X-Slow-${n}: ${"a".repeat(8)}\r\n`);
    }, 200);
    timers.add(timer);
    const elapsed = await closedWithin(conn, HEADERS_TIMEOUT_MS + SLACK_MS);
    clearInterval(timer);
    expect(elapsed).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 100);
    for (const status of statuses(conn.received())) expect(status).toBe(408);
  });

  it("a body trickled past the request timeout: closed within the bound, nothing issued", async () => {
    const conn = await open();
    const body = await validForm();
    conn.socket.write(tokenHead([`Content-Length: ${Buffer.byteLength(body)}`]));
    // One byte of a valid form every 100 ms: the whole body would take far longer than the timeout.
    let offset = 0;
    const timer = setInterval(() => {
      if (conn.isClosed() || offset >= body.length) return void clearInterval(timer);
      conn.socket.write(body.slice(offset, offset + 1));
      offset += 1;
    }, 100);
    timers.add(timer);
    expect(body.length * 100).toBeGreaterThan(REQUEST_TIMEOUT_MS + SLACK_MS);
    await closedWithin(conn, REQUEST_TIMEOUT_MS + SLACK_MS);
    clearInterval(timer);
    expect(offset).toBeLessThan(body.length);
    expectNothingIssued(conn.received());
    for (const status of statuses(conn.received())) expect(status).toBe(408);
  });

  it("Content-Length overstated (a short body, then silence): closed by the request timeout, nothing issued", async () => {
    const conn = await open();
    const body = await validForm();
    conn.socket.write(`${tokenHead([`Content-Length: ${Buffer.byteLength(body) + 500}`])}${body}`);
    await closedWithin(conn, REQUEST_TIMEOUT_MS + SLACK_MS);
    expectNothingIssued(conn.received());
    for (const status of statuses(conn.received())) expect(status).toBe(408);
  });

  it("an idle connection that never sends a request line is closed within the bound", async () => {
    const conn = await open();
    await closedWithin(conn, REQUEST_TIMEOUT_MS + SLACK_MS + 5_000);
    expectNothingIssued(conn.received());
  });
});

describe("sizes", () => {
  it("a header block over 16 KiB → 431 and the connection closes", async () => {
    const conn = await open();
    conn.socket.write(tokenHead(["Content-Length: 0", `X-Pad: ${"p".repeat(17 * 1024)}`]));
    await closedWithin(conn, 5_000);
    expect(statuses(conn.received())).toEqual([431]);
    expectNothingIssued(conn.received());
  });

  it("many header lines adding up to over 16 KiB → 431", async () => {
    const conn = await open();
    const lines = Array.from({ length: 200 }, (_, i) => `X-Pad-${i}: ${"q".repeat(100)}`);
    conn.socket.write(tokenHead(["Content-Length: 0", ...lines]));
    await closedWithin(conn, 5_000);
    expect(statuses(conn.received())).toEqual([431]);
  });

  it("control: a header block just under the limit is accepted (the limit is 16 KiB, not less)", async () => {
    const conn = await open();
    const body = await validForm();
    conn.socket.write(`${tokenHead([`Content-Length: ${Buffer.byteLength(body)}`, "Connection: close", `X-Pad: ${"p".repeat(14 * 1024)}`])}${body}`);
    await closedWithin(conn, 10_000);
    expect(statuses(conn.received())).toEqual([200]);
  });

  it("a chunked body over the limit, starting with a valid form → 413 and nothing issued", async () => {
    const conn = await open();
    const token = await freshSubjectToken();
    const form = formOf({ grant_type: GRANT_TYPE, subject_token: token, subject_token_type: TOKEN_TYPES.jwt, audience: "https://a.example.com" });
    conn.socket.write(tokenHead(["Transfer-Encoding: chunked"]));
    const chunk = (text: string) => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;
    conn.socket.write(chunk(form));
    // Padding in 512-byte chunks up to four times the limit, then the terminating chunk.
    for (let sent = form.length; sent < MAX_BODY * 4 && !conn.isClosed(); sent += 512) {
      conn.socket.write(chunk(`&pad=${"x".repeat(507)}`));
    }
    if (!conn.isClosed()) conn.socket.write("0\r\n\r\n");
    await closedWithin(conn, 5_000);
    const raw = conn.received();
    // Lingering close (RFC 9112 §9.6): the 413 reaches the client even though it was still sending.
    expect(statuses(raw)).toEqual([413]);
    expect(raw).toMatch(/\r\nconnection: close\r\n/i);
    expectNothingIssued(raw);
    await expectNotIssuedFor(token);
  });

  it("Content-Length understated: the bytes past it are not part of the form; the leftovers are no request", async () => {
    const conn = await open();
    const token = await freshSubjectToken();
    // The declared body is a form without subject_token; the subject token follows, undeclared.
    const declared = formOf({ grant_type: GRANT_TYPE, subject_token_type: TOKEN_TYPES.jwt, audience: "https://a.example.com" });
    const smuggled = `&${formOf({ subject_token: token })}`;
    conn.socket.write(`${tokenHead([`Content-Length: ${Buffer.byteLength(declared)}`, "X-Request-Id: understated-cl"])}${declared}${smuggled}\r\n\r\n`);
    await closedWithin(conn, REQUEST_TIMEOUT_MS + SLACK_MS);
    const raw = conn.received();
    // The leftovers, read as the next request, are a malformed request line: Node answers 400 and
    // closes, possibly before the first answer is written. At most the two answers, both 400.
    const seen = statuses(raw);
    expect(seen.length, raw).toBeLessThanOrEqual(2);
    for (const status of seen) expect(status, raw).toBe(400);
    if (raw.includes("application/json")) expect(raw).toContain("missing subject_token");
    expectNothingIssued(raw);
    // The declared form was handled as what it is: a request missing its subject token.
    expect(await loggedStatus("understated-cl")).toBe(400);
    await expectNotIssuedFor(token);
  });

  it("Content-Length understated by one byte on a valid form: the truncated form is refused, not completed", async () => {
    const conn = await open();
    const token = await freshSubjectToken();
    // subject_token last: cutting its final character breaks the signature.
    const body = formOf({ grant_type: GRANT_TYPE, subject_token_type: TOKEN_TYPES.jwt, audience: "https://a.example.com", subject_token: token });
    conn.socket.write(`${tokenHead([`Content-Length: ${Buffer.byteLength(body) - 1}`])}${body}`);
    await closedWithin(conn, REQUEST_TIMEOUT_MS + SLACK_MS);
    const raw = conn.received();
    expect(statuses(raw)[0], raw).toBe(400);
    expectNothingIssued(raw);
    await expectNotIssuedFor(token);
  });
});

describe("slowloris", () => {
  it("50 slow-header connections do not stop a normal request from being answered", async () => {
    const slow: RawConnection[] = [];
    for (let i = 0; i < 50; i += 1) {
      const conn = await open();
      conn.socket.write(`POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\n`);
      conn.trickle(`X-Slow: ${i}\r\n`, 300);
      slow.push(conn);
    }
    const started = Date.now();
    const controller = AbortSignal.timeout(5_000);
    const health = await fetch(`${fx.url}/healthz`, { signal: controller });
    expect(health.status).toBe(200);
    const res = await fetch(`${fx.url}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: await validForm(),
      signal: AbortSignal.timeout(5_000),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(Date.now() - started).toBeLessThan(5_000);
    // And the slow ones are all cut off by the headers timeout.
    await Promise.all(slow.map((conn) => closedWithin(conn, HEADERS_TIMEOUT_MS + SLACK_MS)));
    for (const conn of slow) for (const status of statuses(conn.received())) expect(status).toBe(408);
  });
});

describe("the broker survived it all", () => {
  it("answers /healthz; no 5xx and no unexpected error in its log", async () => {
    expect((await fetch(`${fx.url}/healthz`)).status).toBe(200);
    expect(fx.broker.output.filter((line) => /unexpected error|Unhandled|uncaught|TypeError/i.test(line))).toEqual([]);
    expect(fx.broker.logRecords().filter((record) => typeof record.status === "number" && record.status >= 500)).toEqual([]);
  });
});
