/**
 * A broker process whose stdout breaks (the log collector reading the pipe goes away: EPIPE).
 * Log lines are written once per event-loop turn and every answer waits for that write
 * (lib/log-output.ts, http/request-context.ts); a write that fails must not hang the requests
 * waiting for it, nor let a decision leave unrecorded: they answer 500, and stderr says why.
 */
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { once } from "node:events";
import type { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAIN_ARGS } from "../support/compiled-broker.js";
import { freePort } from "../support/broker-process.js";
import { OIDC_SUBJECT, prepareBrokerFolder, requestBroker, type BrokerFolder } from "../support/broker-fixture.js";
import { ROOT } from "../support/repo-root.js";

let folder: BrokerFolder;
let child: ChildProcessByStdio<null, Readable, Readable>;
let url: string;
let stderr = "";

beforeAll(async () => {
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  folder = await prepareBrokerFolder(url);
  child = spawn(process.execPath, [...MAIN_ARGS], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", BROKER_HOST: "127.0.0.1", BROKER_PORT: String(port), LOG_LEVEL: "info", ...folder.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  let stdout = "";
  const deadline = Date.now() + 20_000;
  for await (const chunk of child.stdout) {
    stdout += (chunk as Buffer).toString("utf8");
    if (stdout.includes('"msg":"listening"')) break;
    if (Date.now() > deadline) throw new Error(`broker did not start:\n${stdout}${stderr}`);
  }
}, 60_000);
afterAll(async () => {
  if (child !== undefined && child.exitCode === null) {
    child.kill("SIGKILL");
    await once(child, "exit");
  }
  await folder?.close();
});

describe("a broken stdout", () => {
  it("answers decisions 500 (never an unrecorded token, never a hang) and says so on stderr", async () => {
    // The reader goes away: the broker's next write to the pipe fails with EPIPE.
    child.stdout.destroy();
    const form = { ...folderForm(await folder.issuers.oidc.mint({ sub: OIDC_SUBJECT })), audience: "https://a.example.com" };
    const answers = await Promise.all(
      Array.from({ length: 5 }, () =>
        requestBroker(url, "/token", {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams(form).toString(),
          signal: AbortSignal.timeout(10_000),
        }),
      ),
    );
    for (const answer of answers) {
      expect(answer.status).toBe(500);
      expect(answer.json).toMatchObject({ error: "server_error" });
      expect(JSON.stringify(answer.json)).not.toContain("access_token");
    }
    expect(stderr).toContain("log output failed (EPIPE)");
    // Still running, still answering.
    expect(child.exitCode).toBeNull();
  }, 60_000);
});

function folderForm(subjectToken: string): Record<string, string> {
  return { grant_type: "urn:ietf:params:oauth:grant-type:token-exchange", subject_token: subjectToken, subject_token_type: "urn:ietf:params:oauth:token-type:jwt" };
}
