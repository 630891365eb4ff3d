import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BatchedLogOutput, type WriteBytes } from "../../src/lib/log-output.js";

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A real file as the descriptor, and every write(2) the output makes to it. */
function fileOutput(options: { writeBytes?: (write: WriteBytes) => WriteBytes } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "log-output-"));
  const path = join(dir, "out.log");
  const fd = openSync(path, "a");
  const writes: number[] = [];
  const counted: WriteBytes = (target, bytes, offset, length) => {
    const n = writeSync(target, bytes, offset, length);
    writes.push(n);
    return n;
  };
  const failures: NodeJS.ErrnoException[] = [];
  const output = new BatchedLogOutput({ fd, writeBytes: options.writeBytes?.(counted) ?? counted, onFailure: (error) => failures.push(error) });
  cleanups.push(() => {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });
  return { output, writes, failures, text: () => readFileSync(path, "utf8") };
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

const errno = (code: string) => Object.assign(new Error(`${code}: simulated`), { code });

describe("BatchedLogOutput: the lines of one event-loop turn in one write(2)", () => {
  it("writes 100 lines of one turn (under 4096 bytes) with one write, at the end of the turn, in order", async () => {
    const { output, writes, text } = fileOutput();
    const lines = Array.from({ length: 100 }, (_, i) => `{"n":${i},"text":"é ✓"}\n`);
    for (const line of lines) output.write(line);
    expect(writes).toEqual([]);
    expect(text()).toBe("");
    await nextTurn();
    expect(writes).toHaveLength(1);
    expect(text()).toBe(lines.join(""));
  });

  it("written() is undefined with nothing pending, and settles only once the lines are on the descriptor", async () => {
    const { output, text } = fileOutput();
    expect(output.written()).toBeUndefined();
    output.write("first\n");
    const pending = output.written();
    output.write("second\n");
    // The same batch: one promise for every waiter of the turn.
    expect(output.written()).toBe(pending);
    let seen: string | undefined;
    await pending?.then(() => (seen = text()));
    expect(seen).toBe("first\nsecond\n");
    expect(output.written()).toBeUndefined();
  });

  it("lines written in the next turn go in the next write", async () => {
    const { output, writes, text } = fileOutput();
    output.write("a\n");
    await nextTurn();
    output.write("b\n");
    output.write("c\n");
    await nextTurn();
    expect(writes).toHaveLength(2);
    expect(text()).toBe("a\nb\nc\n");
  });

  it("writes a batch over 4096 bytes (PIPE_BUF) as writes of whole lines of at most 4096 bytes, a longer line alone", async () => {
    const { output, writes, text } = fileOutput();
    const lines = Array.from({ length: 40 }, (_, i) => `{"n":${i},"pad":"${"x".repeat(300 + i)}"}\n`);
    const long = `{"long":"${"y".repeat(9000)}"}\n`;
    const all = [...lines.slice(0, 20), long, ...lines.slice(20)];
    for (const line of all) output.write(line);
    await output.written();
    expect(text()).toBe(all.join(""));
    expect(writes.length).toBeGreaterThan(3);
    // Each write ends a line; only the long line's write is over 4096 bytes.
    let at = 0;
    for (const size of writes) {
      const chunk = text().slice(at, at + size);
      at += size;
      expect(chunk.endsWith("\n")).toBe(true);
      if (size > 4096) expect(chunk).toBe(long);
    }
    expect(writes.filter((size) => size > 4096)).toEqual([Buffer.byteLength(long)]);
  });

  it("finishes a partial write (a pipe that takes a few bytes at a time)", async () => {
    const { output, writes, text } = fileOutput({ writeBytes: (write) => (fd, bytes, offset, length) => write(fd, bytes, offset, Math.min(length, 7)) });
    output.write('{"msg":"a line longer than seven bytes, ü"}\n');
    output.write('{"msg":"another"}\n');
    await output.written();
    expect(text()).toBe('{"msg":"a line longer than seven bytes, ü"}\n{"msg":"another"}\n');
    expect(writes.length).toBeGreaterThan(5);
  });

  it("waits and retries a write the descriptor refused for now (EAGAIN), losing nothing", async () => {
    let refusals = 1;
    const { output, text, failures } = fileOutput({
      writeBytes: (write) => (fd, bytes, offset, length) => {
        if (refusals-- > 0) throw errno("EAGAIN");
        return write(fd, bytes, offset, length);
      },
    });
    output.write("kept\n");
    await output.written();
    expect(text()).toBe("kept\n");
    expect(failures).toEqual([]);
  });

  it("a failed write rejects its waiters with the error, reports it, and the next turn is written again", async () => {
    let broken = true;
    const { output, text, failures } = fileOutput({
      writeBytes: (write) => (fd, bytes, offset, length) => {
        if (broken) throw errno("EPIPE");
        return write(fd, bytes, offset, length);
      },
    });
    output.write("lost\n");
    await expect(output.written()).rejects.toMatchObject({ code: "EPIPE" });
    expect(failures.map((error) => error.code)).toEqual(["EPIPE"]);
    broken = false;
    output.write("after\n");
    await output.written();
    expect(text()).toBe("after\n");
  });

  it("a failed batch nobody waits for makes no unhandled rejection", async () => {
    const { output, failures } = fileOutput({
      writeBytes: () => () => {
        throw errno("ENOSPC");
      },
    });
    output.write("nobody waits\n");
    await nextTurn();
    expect(failures.map((error) => error.code)).toEqual(["ENOSPC"]);
    // vitest fails the run on an unhandled rejection; give one a turn to surface.
    await nextTurn();
  });

  it("writtenNow writes what is pending at once, and the end of the turn then has nothing to write", async () => {
    const { output, writes, text } = fileOutput();
    output.write("one\n");
    const waiting = output.written();
    output.write("two\n");
    expect(output.writtenNow()).toBeUndefined();
    expect(text()).toBe("one\ntwo\n");
    await waiting;
    await nextTurn();
    expect(writes).toHaveLength(1);
    expect(output.writtenNow()).toBeUndefined();
    expect(writes).toHaveLength(1);
  });

  it("writtenNow answers a failed write with a rejected promise, and rejects the batch's other waiters", async () => {
    const { output, failures } = fileOutput({
      writeBytes: () => () => {
        throw errno("EBADF");
      },
    });
    output.write("line\n");
    const other = output.written();
    await expect(output.writtenNow()).rejects.toMatchObject({ code: "EBADF" });
    await expect(other).rejects.toMatchObject({ code: "EBADF" });
    expect(failures.map((error) => error.code)).toEqual(["EBADF"]);
  });

  it("flushSync and pino's flush(cb) write what is pending at once, without waiting for the turn", () => {
    const { output, writes, text } = fileOutput();
    output.write("at exit\n");
    output.flushSync();
    expect(text()).toBe("at exit\n");
    output.write("on SIGTERM\n");
    let called = false;
    output.flush(() => (called = true));
    expect(called).toBe(true);
    expect(text()).toBe("at exit\non SIGTERM\n");
    expect(writes).toHaveLength(2);
  });
});
