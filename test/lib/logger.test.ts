import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/lib/logger.js";

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
