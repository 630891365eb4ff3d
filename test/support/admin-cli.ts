import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { CLI_ARGS } from "./compiled-broker.js";
import { ROOT } from "./repo-root.js";

const run = promisify(execFile);

/** What one `broker` CLI process did. */
export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs an admin command of the compiled `broker` CLI as a process against `url` (`--url`), with
 * `token` as BROKER_ADMIN_TOKEN and nothing else of this process's environment but PATH and HOME.
 */
export async function runAdminCli(url: string, args: readonly string[], token: string): Promise<CliRun> {
  try {
    const { stdout, stderr } = await run(process.execPath, [...CLI_ARGS, ...args, "--url", url], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", BROKER_ADMIN_TOKEN: token },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}
