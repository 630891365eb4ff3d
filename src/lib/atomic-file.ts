import { randomBytes } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";

/**
 * Writes through a fresh temporary file beside `path` (created exclusively, with `mode` from its
 * creation on), flushed to disk, then renamed over `path`: a reader sees the old file or the new
 * one, never half of one. On every failure (write, flush, close, rename) the temporary file is
 * removed before the error is rethrown, so no copy of the content (a private key) is left behind;
 * only a crash of the process itself can leave a stray `*.tmp` file.
 */
export async function writeFileAtomic(path: string, content: string, mode: number): Promise<void> {
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  // "wx": never follow or reuse an existing file; the mode applies at creation (umask can only narrow it).
  const handle = await open(temporary, "wx", mode);
  try {
    try {
      await handle.writeFile(content, "utf8");
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
