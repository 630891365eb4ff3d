/**
 * The load generator, run as its own process so it never shares an event loop with a server:
 * autocannon's programmatic API, cycling through a list of request bodies (distinct subject
 * tokens for replay-protected scenarios). Prints autocannon's result as JSON on stdout, with the
 * CPU this process spent driving (`driverCpuMicros`) and what the whole machine spent in the same
 * window (`machine`, from /proc/stat): the load generator shares the cores with the server and
 * Redis, so a req/s figure is bounded by all three.
 *
 * Usage: node --import tsx bench/drive.ts <spec.json>
 */
import { readFileSync } from "node:fs";
import autocannon from "autocannon";

interface DriveSpec {
  readonly url: string;
  readonly connections: number;
  readonly durationSeconds: number;
  /** Requests per second across all connections; unset: as fast as the server answers. */
  readonly overallRate?: number;
  readonly method: "GET" | "POST";
  readonly headers: Record<string, string>;
  /** Bodies used in turn; empty for GET. */
  readonly bodies: readonly string[];
  /** The index of the first body to send (bodies are used in turn from there, wrapping). */
  readonly offset?: number;
}

/** Busy and total CPU time of every core so far, in µs (/proc/stat's first line; USER_HZ is 100). */
function machineCpu(): { busy: number; total: number } {
  const ticks = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal …: idle and iowait are free time; steal is a
  // neighbour's, counted in the total only.
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = ticks;
  const busy = user + nice + system + irq + softirq;
  return { busy: busy * 10_000, total: (busy + idle + iowait + steal) * 10_000 };
}

const spec = JSON.parse(readFileSync(process.argv[2] ?? "", "utf8")) as DriveSpec;
let next = spec.offset ?? 0;
const machineBefore = machineCpu();
const driverBefore = process.cpuUsage();
const result = await autocannon({
  url: spec.url,
  connections: spec.connections,
  duration: spec.durationSeconds,
  ...(spec.overallRate ? { overallRate: spec.overallRate } : {}),
  requests: [
    {
      method: spec.method,
      headers: spec.headers,
      ...(spec.bodies.length > 0
        ? {
            setupRequest: (request: autocannon.Request) => {
              request.body = spec.bodies[next++ % spec.bodies.length];
              return request;
            },
          }
        : {}),
    },
  ],
});
const driver = process.cpuUsage(driverBefore);
const machineAfter = machineCpu();
process.stdout.write(
  JSON.stringify({
    ...result,
    driverCpuMicros: driver.user + driver.system,
    machine: { busyMicros: machineAfter.busy - machineBefore.busy, totalMicros: machineAfter.total - machineBefore.total },
  }),
);
