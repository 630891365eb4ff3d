/**
 * The audit guarantee with batched log writes (lib/log-output.ts): the broker's logger writes the
 * lines of one event-loop turn with one write(2), and no answer leaves before the write that
 * holds its audit record. Here the in-process broker logs to a real file through the same
 * BatchedLogOutput main.ts puts on stdout, and each answer is checked against the file at the
 * moment the app hands it over (app.request resolving: what @hono/node-server would then write
 * to the socket).
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatchedLogOutput } from "../../src/lib/log-output.js";
import { GRANT_TYPE, OIDC_SUBJECT, startInProcessBroker, TOKEN_TYPES, type InProcessBroker } from "../support/in-process-broker.js";

const REQUESTS = 60;

let fx: InProcessBroker;
let dir: string;
let logFile: string;
let fd: number;
/** Every write(2) the output made, in bytes; `failWith` makes the next ones fail. */
const writes: number[] = [];
let failWith: string | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "audit-before-answer-"));
  logFile = join(dir, "stdout.log");
  fd = openSync(logFile, "a");
  const logOutput = new BatchedLogOutput({
    fd,
    writeBytes: (target, bytes, offset, length) => {
      if (failWith !== undefined) throw Object.assign(new Error(`${failWith}: simulated`), { code: failWith });
      const n = writeSync(target, bytes, offset, length);
      writes.push(n);
      return n;
    },
  });
  fx = await startInProcessBroker({ logOutput });
});
afterAll(async () => {
  await fx?.close();
  closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
});

const exchangeBody = (subjectToken: string) =>
  new URLSearchParams({ grant_type: GRANT_TYPE, subject_token: subjectToken, subject_token_type: TOKEN_TYPES.jwt, audience: "https://a.example.com" }).toString();

const postToken = (body: string, requestId: string) =>
  fx.fetch(`${fx.url}/token`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", "x-request-id": requestId }, body });

const auditLines = () =>
  readFileSync(logFile, "utf8")
    .split("\n")
    .filter((line) => line.includes('"channel":"audit"'))
    .map((line) => JSON.parse(line) as { requestId?: string; status?: number; audit: { decision?: string } });

describe("audit records batched per event-loop turn, each on the output before its answer", () => {
  it(`${REQUESTS} exchanges at once: every answer finds its record already written, and the records share writes`, async () => {
    const tokens = await Promise.all(Array.from({ length: REQUESTS }, () => fx.issuers.oidc.mint({ sub: OIDC_SUBJECT })));
    const bodies = tokens.map(exchangeBody);
    // Allowed and denied decisions alike (an unknown audience is refused by policy).
    bodies.push(new URLSearchParams({ grant_type: GRANT_TYPE, subject_token: tokens[0] ?? "", subject_token_type: TOKEN_TYPES.jwt, audience: "https://not-granted.example.com" }).toString());
    const writesBefore = writes.length;
    const seen = await Promise.all(
      bodies.map((body, i) =>
        postToken(body, `order-${i}`).then((res) => {
          // Synchronously, as the answer is handed over: what is in the file now was written before it.
          const written = auditLines().find((line) => line.requestId === `order-${i}`);
          return { status: res.status, written };
        }),
      ),
    );
    expect(seen.filter(({ status }) => status === 200)).toHaveLength(REQUESTS);
    expect(seen.at(-1)?.status).toBe(400);
    for (const [i, { status, written }] of seen.entries()) {
      expect(written, `the record of order-${i} was not on the output when its answer left`).toBeDefined();
      expect(written?.status).toBe(status);
    }
    expect(seen.at(-1)?.written?.audit.decision).toBe("deny");
    const batches = writes.length - writesBefore;
    expect(batches).toBeGreaterThan(0);
    expect(batches, `${REQUESTS + 1} records took ${batches} writes`).toBeLessThan(REQUESTS / 2);
  });

  it("a failing output does not hang requests: they answer 500, and 200 again once it writes", async () => {
    const token = await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT });
    failWith = "EIO";
    try {
      const failed = await Promise.race([
        postToken(exchangeBody(token), "broken-output"),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error("the request hung on a failing log output")), 5_000)),
      ]);
      expect(failed.status).toBe(500);
      expect(await failed.json()).toMatchObject({ error: "server_error" });
      // /healthz writes an access line: it waits for the output too, and does not hang either.
      expect((await fx.fetch(`${fx.url}/healthz`)).status).toBe(500);
    } finally {
      failWith = undefined;
    }
    const again = await postToken(exchangeBody(await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT })), "recovered");
    expect(again.status).toBe(200);
    expect(auditLines().some((line) => line.requestId === "recovered")).toBe(true);
    expect(auditLines().some((line) => line.requestId === "broken-output")).toBe(false);
  });
});
