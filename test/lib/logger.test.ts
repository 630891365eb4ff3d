import { spawnSync } from "node:child_process";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger, prettyPrinterInstalled } from "../../src/lib/logger.js";
import { ROOT } from "../support/repo-root.js";

describe("logger redaction", () => {
  it("censors tokens, authorization headers and private key members wherever they appear", () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logger = createLogger({ level: "info" }, sink);
    logger.info(
      {
        subject_token: "eyJ.secret-subject.sig",
        body: { access_token: "eyJ.secret-access.sig", actor_token: "eyJ.secret-actor.sig" },
        req: { headers: { authorization: "Bearer secret-bearer" } },
        jwk: { kty: "EC", d: "secret-private-scalar" },
        key: { d: "secret-key-scalar" },
        err: { token: "secret-in-error" },
        headers: { cookie: "secret-cookie" },
        config: { secret: "secret-admin-value" },
        audit: { event: "token_exchange", subject_token: "secret-audit-subject", token: "secret-audit-token", d: "secret-audit-scalar", password: "secret-audit-password" },
      },
      "event",
    );
    const text = lines.join("");
    for (const secret of ["secret-subject", "secret-access", "secret-actor", "secret-bearer", "secret-private-scalar", "secret-key-scalar", "secret-in-error", "secret-cookie", "secret-admin-value", "secret-audit"]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain("[redacted]");
    expect((JSON.parse(text) as { audit: unknown }).audit).toEqual({ event: "token_exchange", subject_token: "[redacted]", token: "[redacted]", d: "[redacted]", password: "[redacted]" });
  });

  it("writes an audit line as pino's redaction path did: the record's bytes, in its order, not changed in place", () => {
    const lines: string[] = [];
    const logger = createLogger({ level: "info" }, { write: (line: string) => void lines.push(line) });
    const record = { event: "token_exchange", requestId: "r-1", decision: "allow", audience: ["https://a.example.com"], actor: { sub: "ci", iss: "https://i" }, subjectTokenSha256: "ab12", exp: 1795000600 };
    const withSecret = { ...record, token: "secret-value" };
    logger.child({ channel: "audit" }).info({ requestId: "r-1", status: 200, audit: record }, "token_exchange allow");
    logger.child({ channel: "audit" }).info({ audit: withSecret }, "token_exchange allow");
    const [clean, censored] = lines;
    expect(clean).toMatch(/^\{"level":30,"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","service":"credential-broker","channel":"audit","requestId":"r-1","status":200,"audit":/);
    expect(clean).toContain(`"audit":${JSON.stringify(record)},"msg":"token_exchange allow"}\n`);
    expect(censored).toContain(`"audit":${JSON.stringify({ ...record, token: "[redacted]" })},`);
    expect(withSecret.token).toBe("secret-value");
  });
});

describe("LOG_PRETTY without pino-pretty (the image leaves development dependencies out)", () => {
  it("finds pino-pretty in a development install, and not when it cannot be resolved", () => {
    expect(prettyPrinterInstalled()).toBe(true);
    expect(
      prettyPrinterInstalled(() => {
        throw Object.assign(new Error("Cannot find module 'pino-pretty'"), { code: "MODULE_NOT_FOUND" });
      }),
    ).toBe(false);
  });

  it("logs JSON lines on stdout and says why, instead of failing the start", () => {
    const script = [
      'import { createLogger } from "./src/lib/logger.ts";',
      'createLogger({ level: "info", pretty: true }, undefined, () => false).info({ answer: 42 }, "still logging");',
    ].join("\n");
    const run = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: ROOT, encoding: "utf8", timeout: 30_000 });
    expect(run.status, run.stderr).toBe(0);
    const records = run.stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records.map((record) => record.msg)).toEqual([expect.stringMatching(/^LOG_PRETTY is on but pino-pretty is not installed/), "still logging"]);
    expect(records[1]?.answer).toBe(42);
  }, 60_000);
});

describe("stdout lines written once per event-loop turn (lib/log-output.ts) are written out at every exit", () => {
  const run = (body: string) => {
    const script = ['import { createLogger } from "./src/lib/logger.ts";', 'const logger = createLogger({ level: "info" });', body].join("\n");
    return spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: ROOT, encoding: "utf8", timeout: 30_000 });
  };
  const messages = (stdout: string) => stdout.trim().split("\n").filter((line) => line !== "").map((line) => (JSON.parse(line) as { msg: string }).msg);

  it("process.exit() right after logging (SIGTERM's drain in main.ts; pino writes a fatal line at once anyway)", () => {
    const result = run('logger.info({}, "one"); logger.warn({}, "two"); process.exit(3);');
    expect(result.status, result.stderr).toBe(3);
    expect(messages(result.stdout)).toEqual(["one", "two"]);
  }, 60_000);

  it("an uncaught exception in the same turn as the line", () => {
    const result = run('setTimeout(() => { logger.info({}, "just before"); throw new Error("boom"); }, 1);');
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("boom");
    expect(messages(result.stdout)).toEqual(["just before"]);
  }, 60_000);

  it("the event loop running dry (nothing pending at exit is left behind)", () => {
    const result = run('logger.info({}, "last words");');
    expect(result.status, result.stderr).toBe(0);
    expect(messages(result.stdout)).toEqual(["last words"]);
  }, 60_000);
});
