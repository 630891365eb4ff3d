import { open, rm } from "node:fs/promises";

/**
 * Runs `change` holding `lockPath` (created exclusively, holding this process id), so two
 * operators' read-modify-write steps on one manifest never interleave. A lock left by a crashed
 * command is named in the error for the operator to remove.
 */
export async function withFileLock<T>(lockPath: string, what: string, change: () => Promise<T>): Promise<T> {
  let handle;
  try {
    handle = await open(lockPath, "wx", 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") {
      throw new Error(`${lockPath} exists: another ${what} command is running (if none is, a crashed one left it: remove the file)`);
    }
    throw error;
  }
  try {
    await handle.writeFile(`${process.pid}\n`);
    await handle.close();
    return await change();
  } finally {
    await rm(lockPath, { force: true });
  }
}
