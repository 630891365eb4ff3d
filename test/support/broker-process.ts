import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { MAIN_ARGS } from "./compiled-broker.js";
import { ROOT } from "./repo-root.js";

/** A real broker process (src/main.ts, compiled once per run: compiled-broker.ts), listening on 127.0.0.1. */
export interface BrokerProcess {
  readonly url: string;
  readonly port: number;
  /** Every line the broker wrote to stdout and stderr so far. */
  readonly output: string[];
  /** Lines of the output parsed as JSON (pino records). */
  logRecords(): Record<string, unknown>[];
  /** Sends a signal (e.g. SIGHUP to reload policies) without waiting for anything. */
  signal(signal: NodeJS.Signals): void;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Finds a free loopback port (the broker needs its port before it starts, for its issuer URL).
 *
 * The port is taken below the kernel's ephemeral range: between this check and the server's own
 * bind (a second or more for a broker starting through tsx), a port from that range can be handed
 * to any outgoing connection of the test run (EADDRINUSE, seen in CI), while a port below it is
 * only ever taken by an explicit bind like this one. Falls back to a kernel-chosen port.
 */
export async function freePort(): Promise<number> {
  const [low] = ephemeralRange();
  const floor = 10_000;
  for (let attempt = 0; attempt < 50 && low > floor + 1; attempt += 1) {
    const port = floor + Math.floor(Math.random() * (low - floor));
    if (await canBind(port)) return port;
  }
  return kernelChosenPort();
}

function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (low !== undefined && high !== undefined && Number.isInteger(low) && Number.isInteger(high)) return [low, high];
  } catch {
    // Not Linux: the usual IANA dynamic range.
  }
  return [49_152, 65_535];
}

/**
 * Whether 127.0.0.1:`port` is free now. Answers false on a port in use (or any listen error);
 * never throws. (It once raced `once(server, "listening")` against `once(server, "error")`: the
 * first rejects on the same error the second resolves on, and won the race, so a busy port threw
 * EADDRINUSE out of freePort instead of trying another: seen once in CI.)
 */
export function canBind(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise<boolean>((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

async function kernelChosenPort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/**
 * Starts `src/main.ts` with the given environment and waits (bounded) for its "listening" log.
 * The issuer URL defaults to http://127.0.0.1:<port>.
 */
export async function startBroker(env: Record<string, string>, timeoutMs = 20_000): Promise<BrokerProcess> {
  const port = Number(env.BROKER_PORT ?? (await freePort()));
  const child: ChildProcess = spawn(process.execPath, [...MAIN_ARGS], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", BROKER_HOST: "127.0.0.1", BROKER_PORT: String(port), LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  let buffered = "";
  const collect = (chunk: Buffer) => {
    buffered += chunk.toString("utf8");
    const lines = buffered.split("\n");
    buffered = lines.pop() ?? "";
    output.push(...lines);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const exited = once(child, "exit") as Promise<[number | null]>;

  const deadline = Date.now() + timeoutMs;
  while (!output.some((line) => line.includes('"msg":"listening"'))) {
    if (child.exitCode !== null) throw new Error(`broker exited with ${child.exitCode}:\n${output.join("\n")}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`broker did not start within ${timeoutMs} ms:\n${output.join("\n")}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    output,
    logRecords: () =>
      output.flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      }),
    signal(signal) {
      if (child.exitCode === null) child.kill(signal);
    },
    async stop(signal = "SIGTERM") {
      if (child.exitCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      const [code] = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/**
 * Runs `src/main.ts` with the given environment and waits (bounded) for it to exit: for starts
 * that must be refused. Fails when it is still running (e.g. listening) after `timeoutMs`.
 */
export async function runBrokerUntilExit(env: Record<string, string>, timeoutMs = 20_000): Promise<{ code: number | null; output: string[] }> {
  const port = Number(env.BROKER_PORT ?? (await freePort()));
  const child = spawn(process.execPath, [...MAIN_ARGS], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", BROKER_HOST: "127.0.0.1", BROKER_PORT: String(port), LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let text = "";
  child.stdout.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
  const exited = once(child, "exit") as Promise<[number | null]>;
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const [code] = await exited;
  clearTimeout(timer);
  const output = text.split("\n").filter((line) => line !== "");
  if (code === null) throw new Error(`broker still running after ${timeoutMs} ms (killed):\n${output.join("\n")}`);
  return { code, output };
}
