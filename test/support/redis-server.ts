import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { Redis } from "ioredis";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./broker-process.js";

/** A real redis-server on 127.0.0.1, for tests. */
export interface RedisServerHandle {
  /** redis://127.0.0.1:<port> */
  readonly url: string;
  readonly port: number;
  /** Its working directory (AOF and RDB files); removed by stop(). */
  readonly dir: string;
  /** Every line the server wrote so far (for failure messages). */
  readonly output: readonly string[];
  /** Terminates the server (SIGTERM, then SIGKILL after a deadline) and removes its directory. */
  stop(): Promise<void>;
  /** SIGKILL: a crash. The directory stays, so restart() can recover from the AOF. */
  kill(): Promise<void>;
  /** Starts the server again on the same port and directory (stopping it first if it runs). */
  restart(): Promise<void>;
  /** SIGSTOP: the server hangs with its connections open (a stalled Redis). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
}

export interface RedisServerOptions {
  /** `--appendonly`; default true, as production needs. */
  readonly appendonly?: boolean;
  /** `--maxmemory-policy`; default noeviction, as production needs. */
  readonly maxmemoryPolicy?: string;
  /** Further arguments, e.g. ["--cluster-enabled", "yes"]. */
  readonly args?: readonly string[];
  /** A fixed port instead of a free one. */
  readonly port?: number;
  /** Run as a Sentinel monitoring this master (quorum 1) instead of as a data server. */
  readonly sentinelFor?: { readonly masterName: string; readonly masterPort: number };
}

const BINARY = process.env.REDIS_SERVER_BIN ?? "redis-server";
const START_DEADLINE_MS = 10_000;
const STOP_DEADLINE_MS = 5_000;

/** Live servers, killed when the test process exits however it exits (no orphans). */
const running = new Set<ChildProcess>();
const directories = new Set<string>();
let exitHookInstalled = false;

/**
 * Spawns `redis-server` on 127.0.0.1 (a random free port, a fresh temp directory, no RDB
 * snapshots) and waits, up to a deadline, until it answers PING. Throws with install instructions
 * when redis-server is missing.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServerHandle> {
  assertInstalled();
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), "broker-redis-"));
  directories.add(dir);
  const output: string[] = [];
  let port = options.port ?? (await freePort());
  let child: ChildProcess | undefined;
  let stopped = false;

  const sentinel = options.sentinelFor;
  const sentinelConfig = join(dir, "sentinel.conf");
  if (sentinel) writeFileSync(sentinelConfig, `sentinel monitor ${sentinel.masterName} 127.0.0.1 ${sentinel.masterPort} 1\n`);

  const args = (): string[] => sentinel ? [
    sentinelConfig, "--sentinel",
    "--port", String(port),
    "--bind", "127.0.0.1",
    "--dir", dir,
    "--daemonize", "no",
    "--logfile", "",
    ...(options.args ?? []),
  ] : [
    "--port", String(port),
    "--bind", "127.0.0.1",
    "--dir", dir,
    "--save", "",
    "--appendonly", options.appendonly === false ? "no" : "yes",
    // fsync every write, as the operations guide recommends: with the default (everysec) a
    // revocation acknowledged in the last second before a crash (SIGKILL) can be lost.
    "--appendfsync", "always",
    "--maxmemory-policy", options.maxmemoryPolicy ?? "noeviction",
    "--daemonize", "no",
    "--logfile", "",
    ...(options.args ?? []),
  ];

  const launch = async (): Promise<void> => {
    const server = spawn(BINARY, args(), { stdio: ["ignore", "pipe", "pipe"] });
    running.add(server);
    server.once("exit", () => running.delete(server));
    const collect = (chunk: Buffer): void => {
      output.push(...chunk.toString("utf8").split("\n").filter((line) => line !== ""));
    };
    server.stdout?.on("data", collect);
    server.stderr?.on("data", collect);
    child = server;
    await waitForPong(port, server, output);
  };

  const terminate = async (signal: NodeJS.Signals): Promise<void> => {
    const server = child;
    child = undefined;
    if (!server || server.exitCode !== null || server.signalCode !== null) return;
    const exited = once(server, "exit");
    server.kill("SIGCONT"); // a paused server cannot act on SIGTERM
    server.kill(signal);
    const timer = setTimeout(() => server.kill("SIGKILL"), STOP_DEADLINE_MS);
    await exited;
    clearTimeout(timer);
  };

  // A free port can be taken between freePort() and the bind: try a few.
  for (let attempt = 1; ; attempt++) {
    try {
      await launch();
      break;
    } catch (error) {
      await terminate("SIGKILL");
      const portTaken = output.some((line) => line.includes("Address already in use"));
      if (!portTaken || options.port !== undefined || attempt >= 3) {
        rmSync(dir, { recursive: true, force: true });
        directories.delete(dir);
        throw error;
      }
      port = await freePort();
    }
  }

  return {
    get url() {
      return `redis://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    dir,
    output,
    async stop() {
      stopped = true;
      await terminate("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
      directories.delete(dir);
    },
    async kill() {
      await terminate("SIGKILL");
    },
    async restart() {
      if (stopped) throw new Error("redis-server was stopped (its directory is gone): start a new one");
      child?.kill("SIGCONT");
      await terminate("SIGTERM");
      await launch();
    },
    pause() {
      child?.kill("SIGSTOP");
    },
    resume() {
      child?.kill("SIGCONT");
    },
  };
}

function assertInstalled(): void {
  const probe = spawnSync(BINARY, ["--version"], { encoding: "utf8" });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error(
      `redis-server is not installed (could not run "${BINARY} --version"). The Redis tests run a real server: ` +
        "install it with `sudo apt-get install -y redis-server` (Debian/Ubuntu; the CI does this), " +
        "or set REDIS_SERVER_BIN to its path.",
    );
  }
}

/**
 * Kills every live server when this process ends: on exit, and on the signals that end it without
 * an exit event (vitest stops its fork workers with SIGTERM). The signal is then raised again, so
 * the process still ends the way it would have.
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const cleanUp = (): void => {
    for (const child of running) child.kill("SIGKILL");
    running.clear();
    for (const dir of directories) rmSync(dir, { recursive: true, force: true });
    directories.clear();
  };
  process.once("exit", cleanUp);
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
    process.once(signal, () => {
      cleanUp();
      process.kill(process.pid, signal);
    });
  }
}

/** Sends PING over a raw socket until +PONG (not -LOADING while the AOF loads), up to the deadline. */
async function waitForPong(port: number, child: ChildProcess, output: readonly string[]): Promise<void> {
  const deadline = Date.now() + START_DEADLINE_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server exited (${child.exitCode ?? child.signalCode}) on start:\n${output.join("\n")}`);
    }
    if (await pingOnce(port)) return;
    if (Date.now() > deadline) {
      throw new Error(`redis-server did not answer PING on port ${port} within ${START_DEADLINE_MS} ms:\n${output.join("\n")}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    let reply = "";
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      reply += chunk.toString("utf8");
      if (reply.includes("\r\n")) done(reply.startsWith("+PONG"));
    });
  });
}

/** A real three-master Redis Cluster on 127.0.0.1 (no replicas), for tests. */
export interface RedisClusterHandle {
  /** redis+cluster://127.0.0.1:<p1>,127.0.0.1:<p2>,127.0.0.1:<p3> */
  readonly url: string;
  readonly servers: readonly RedisServerHandle[];
  /** True when every node answers CLUSTER INFO with cluster_state:ok (a dead node: false). */
  stateOk(): Promise<boolean>;
  /** The master serving `slot`, and every slot range it serves, by CLUSTER SLOTS of a live node. */
  masterOf(slot: number): Promise<{ readonly server: RedisServerHandle; readonly ranges: readonly (readonly [number, number])[] }>;
  stop(): Promise<void>;
}

/**
 * Starts three `redis-server --cluster-enabled yes`, joins them with `redis-cli --cluster create`
 * and waits, up to a deadline, until every node reports cluster_state:ok.
 */
export async function startRedisCluster(): Promise<RedisClusterHandle> {
  const servers: RedisServerHandle[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((server) => server.stop()));
  };
  try {
    for (let index = 0; index < 3; index++) {
      servers.push(await startRedisServer({ args: ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"] }));
    }
    const addresses = servers.map((server) => `127.0.0.1:${server.port}`);
    const cli = process.env.REDIS_CLI_BIN ?? "redis-cli";
    const create = spawnSync(cli, ["--cluster", "create", ...addresses, "--cluster-replicas", "0", "--cluster-yes"], {
      encoding: "utf8",
      timeout: 20_000,
    });
    if (create.error !== undefined || create.status !== 0) {
      throw new Error(`redis-cli --cluster create failed: ${create.error?.message ?? ""}\n${create.stdout}\n${create.stderr}`);
    }
    const deadline = Date.now() + 20_000;
    for (const server of servers) {
      for (;;) {
        const info = spawnSync(cli, ["-p", String(server.port), "cluster", "info"], { encoding: "utf8", timeout: 2_000 });
        if (info.stdout?.includes("cluster_state:ok")) break;
        if (Date.now() > deadline) throw new Error(`cluster not ok within 20 s:\n${info.stdout}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const stateOk = async (): Promise<boolean> => {
      const states = await Promise.all(servers.map((server) => onNode(server, (node) => node.cluster("INFO")).then((info) => info.includes("cluster_state:ok"), () => false)));
      return states.every(Boolean);
    };
    const masterOf = async (slot: number) => {
      for (const server of servers) {
        const slots = await onNode(server, (node) => node.cluster("SLOTS")).catch(() => undefined);
        if (slots === undefined) continue;
        const port = slots.find(([start, end]) => slot >= start && slot <= end)?.[2]?.[1];
        const owner = servers.find((candidate) => candidate.port === port);
        if (owner === undefined) throw new Error(`no master serves slot ${slot}`);
        const ranges = slots.filter((range) => range[2]?.[1] === port).map(([start, end]) => [start, end] as const);
        return { server: owner, ranges };
      }
      throw new Error("no cluster node answers CLUSTER SLOTS");
    };
    return { url: `redis+cluster://${addresses.join(",")}`, servers, stateOk, masterOf, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** One short-lived connection to one node, without retries: a dead node fails at once. */
async function onNode<T>(server: RedisServerHandle, work: (node: Redis) => Promise<T>): Promise<T> {
  const node = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false, connectTimeout: 1_000 });
  node.on("error", () => undefined);
  try {
    await node.connect();
    return await work(node);
  } finally {
    node.disconnect();
  }
}
