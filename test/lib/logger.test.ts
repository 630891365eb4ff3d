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
      },
      "event",
    );
    const text = lines.join("");
    for (const secret of ["secret-subject", "secret-access", "secret-actor", "secret-bearer", "secret-private-scalar", "secret-key-scalar", "secret-in-error", "secret-cookie", "secret-admin-value"]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain("[redacted]");
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
