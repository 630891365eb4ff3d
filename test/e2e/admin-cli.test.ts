/**
 * The `broker` CLI (a real process) against the broker in-process, served on loopback: revoke a workload with a block, list, lift the
 * block, and fail with the server's error on a wrong credential. The credential never appears in
 * the CLI's output.
 */
import { execFile } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startInProcessBroker, type InProcessBroker } from "../support/in-process-broker.js";
import { CLI_ARGS } from "../support/compiled-broker.js";
import { ROOT } from "../support/repo-root.js";
import { runAdminCli } from "../support/admin-cli.js";

const SECRET = "cli-test-admin-secret-0123456789-abcdefghij";
const run = promisify(execFile);

let fx: InProcessBroker;
beforeAll(async () => {
  fx = await startInProcessBroker({ listen: true, env: { BROKER_ADMIN_SECRET: SECRET } });
});
afterAll(async () => {
  await fx?.close();
});

const broker = (args: string[], token = SECRET) => runAdminCli(fx.url, args, token);

// Each CLI call starts a node process (seconds on a loaded machine): a test runs several in a row.
describe("broker revoke / revocations list / unblock", { timeout: 90_000 }, () => {
  it("revokes and blocks a workload, lists it, lifts the block", async () => {
    const revoked = await broker(["revoke", "--workload", "github/7890/123456", "--reason", "cli test", "--block"]);
    expect(revoked.code).toBe(0);
    expect(JSON.parse(revoked.stdout)).toMatchObject({
      revocation: { workload_id: "github/7890/123456", actor: "bootstrap-admin", reason: "cli test" },
      block: { workload_id: "github/7890/123456", until: null },
    });

    const listed = await broker(["revocations", "list"]);
    expect(listed.code).toBe(0);
    const listing = JSON.parse(listed.stdout) as Record<string, unknown[]>;
    expect(listing.workloads).toEqual([expect.objectContaining({ workload_id: "github/7890/123456" })]);
    expect(listing.blocks).toEqual([expect.objectContaining({ workload_id: "github/7890/123456" })]);

    const lifted = await broker(["unblock", "github/7890/123456"]);
    expect(lifted.code).toBe(0);
    expect(JSON.parse(lifted.stdout)).toEqual({ unblocked: "github/7890/123456" });
    for (const output of [revoked, listed, lifted]) expect(output.stdout + output.stderr).not.toContain(SECRET);

    // The broker's own log holds the audit records, without the secret.
    const audit = fx.broker.logRecords().filter((record) => record.channel === "audit");
    expect(audit.map((record) => (record.audit as Record<string, unknown>).action)).toEqual(
      expect.arrayContaining(["revoke_workload", "block_workload", "list_revocations", "unblock_workload"]),
    );
    expect(fx.broker.output.join("\n")).not.toContain(SECRET);
  });

  it("exits non-zero with the server's error on a wrong credential, without printing it", async () => {
    const wrong = `${SECRET.slice(0, -1)}X`;
    const refused = await broker(["revocations", "list"], wrong);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("401 invalid_token");
    expect(refused.stdout + refused.stderr).not.toContain(wrong);
  });
});

describe("a development start without BROKER_ADMIN_SECRET (the README's quick start)", { timeout: 90_000 }, () => {
  let dev: InProcessBroker;
  beforeAll(async () => {
    dev = await startInProcessBroker({ listen: true });
  });
  afterAll(async () => {
    await dev?.close();
  });

  it("generates keys/dev-admin-secret (0600) once, says how to use it without logging it, and the admin CLI works with it", async () => {
    const file = join(dev.config.keysDir, "dev-admin-secret");
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const secret = (await readFile(file, "utf8")).trim();
    expect(secret.length).toBeGreaterThanOrEqual(64);
    const said = dev.broker.logRecords().find((record) => String(record.msg).startsWith("DEVELOPMENT ADMIN SECRET GENERATED"));
    expect(said?.howTo).toBe(`export BROKER_ADMIN_TOKEN="$(cat ${file})"`);
    expect(JSON.stringify(dev.broker.logRecords())).not.toContain(secret);

    const { stdout } = await run(process.execPath, [...CLI_ARGS, "revocations", "list", "--url", dev.url], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", BROKER_ADMIN_TOKEN: secret },
      timeout: 30_000,
    });
    expect(JSON.parse(stdout)).toMatchObject({ tokens: [], workloads: [], blocks: [] });
  });
});
