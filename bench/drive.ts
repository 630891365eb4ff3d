/**
 * The load generator, run as its own process so it never shares an event loop with a server:
 * autocannon's programmatic API, cycling through a list of request bodies (distinct subject
 * tokens for replay-protected scenarios). Prints autocannon's result as JSON on stdout.
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

const spec = JSON.parse(readFileSync(process.argv[2] ?? "", "utf8")) as DriveSpec;
let next = spec.offset ?? 0;
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
process.stdout.write(JSON.stringify(result));
