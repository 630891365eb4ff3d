/**
 * When to write the log lines of a turn, measured on a minimal HTTP server (node:http, one
 * 600-byte line per request to a file, the answer after its line is written), driven by
 * autocannon at c=50 and c=1; server CPU µs per request from /proc:
 *   per-line     one synchronous write(2) per line (the broker before)
 *   immediate    lines kept, written at the end of the turn (setImmediate) in writes of whole lines
 *                of at most 4096 bytes (as the broker writes them), answers waiting for it
 *   next-tick    the same with process.nextTick: after the current callback's microtasks
 *   immediate-unless-alone   immediate, but written at once when no other request is in flight
 *                (the broker's rule, src/audit/request-audits.ts). This server handles each
 *                request within its own socket callback, so it is almost always alone: at c=50
 *                it shows what a broker that never waits on I/O would get, not the broker's case.
 * Usage: npx tsx bench/log-batching.ts [modes…]   (BENCH_CONNECTIONS, default both 50 and 1)
 */
import { fork } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";

const MODES = ["per-line", "immediate", "next-tick", "immediate-unless-alone"] as const;
type Mode = (typeof MODES)[number];

if (process.argv[2] === "serve") serve(process.argv[3] as Mode, process.argv[4] ?? "", Number(process.argv[5]));
else await drive();

function serve(mode: Mode, file: string, port: number): void {
  const fd = openSync(file, "a");
  const line = `${JSON.stringify({ level: 30, msg: "x".repeat(580) })}\n`;
  let pending = "";
  let scheduled: NodeJS.Immediate | undefined;
  let waiters: { promise: Promise<void>; resolve: () => void } | undefined;
  let inFlight = 0;
  const flush = () => {
    scheduled = undefined;
    const lines = pending;
    const waiting = waiters;
    pending = "";
    waiters = undefined;
    // Whole lines, at most 4096 bytes a write (PIPE_BUF), as src/lib/log-output.ts writes them.
    for (let at = 0; at < lines.length; ) {
      const fit = lines.lastIndexOf("\n", at + 4095);
      const cut = lines.length - at <= 4096 || fit < at ? lines.length : fit + 1;
      writeSync(fd, lines.slice(at, cut));
      at = cut;
    }
    waiting?.resolve();
  };
  const write = (text: string) => {
    pending += text;
    if (scheduled !== undefined || pending.length > text.length) return;
    if (mode === "next-tick") process.nextTick(flush);
    else scheduled = setImmediate(flush);
  };
  const written = () => {
    if (pending === "") return undefined;
    if (waiters === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((settle) => (resolve = settle));
      waiters = { promise, resolve };
    }
    return waiters.promise;
  };
  createServer(async (req, res) => {
    inFlight += 1;
    for await (const _chunk of req);
    await Promise.resolve();
    inFlight -= 1;
    if (mode === "per-line") writeSync(fd, line);
    else {
      write(line);
      if (mode === "immediate-unless-alone" && inFlight === 0) {
        if (scheduled !== undefined) clearImmediate(scheduled);
        flush();
      } else await written();
    }
    res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
  }).listen(port, "127.0.0.1", () => process.send?.("ready"));
}

async function drive(): Promise<void> {
  const modes = process.argv.length > 2 ? (process.argv.slice(2) as Mode[]) : [...MODES];
  const connections = process.env.BENCH_CONNECTIONS === undefined ? [50, 1] : [Number(process.env.BENCH_CONNECTIONS)];
  const dir = mkdtempSync(join(tmpdir(), "log-batching-"));
  try {
    for (const c of connections) {
      const results = new Map<Mode, number[]>();
      for (let round = 0; round < 3; round += 1) {
        for (const mode of modes) {
          const cpu = await run(mode, c, join(dir, `${mode}.log`));
          results.set(mode, [...(results.get(mode) ?? []), cpu]);
        }
      }
      for (const [mode, cpus] of results) {
        const sorted = [...cpus].sort((a, b) => a - b);
        console.log(`c=${c} ${mode}: median ${sorted[1]?.toFixed(1)} µs CPU/request (rounds: ${cpus.map((cpu) => cpu.toFixed(1)).join(", ")})`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function run(mode: Mode, connections: number, file: string): Promise<number> {
  const port = 20_000 + Math.floor(Math.random() * 5_000);
  const child = fork(new URL(import.meta.url).pathname, ["serve", mode, file, String(port)], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  await once(child, "message");
  const url = `http://127.0.0.1:${port}/`;
  await autocannon({ url, method: "POST", body: "a=b", connections, duration: 1 });
  const before = cpuMicros(child.pid ?? 0);
  const result = await autocannon({ url, method: "POST", body: "a=b", connections, duration: 4 });
  const used = cpuMicros(child.pid ?? 0) - before;
  child.kill("SIGTERM");
  await once(child, "exit");
  return used / result.requests.total;
}

function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}
