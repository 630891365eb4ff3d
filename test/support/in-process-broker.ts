/**
 * The broker in-process: the same configuration folder a broker process gets (broker-folder.ts),
 * read by the same loadConfig, its adapters opened as main.ts opens them (file keys, the issuers
 * file, the policy folder, the dev CA, an in-memory revocation store), built by the same
 * buildBroker, and asked through `app.request()`: no process to spawn, no port, no socket.
 * Its pino logger writes to memory, so `broker.output` and `broker.logRecords()` read the same
 * JSON lines a process writes on stdout (the audit channel included).
 *
 * For a process (signals, the CLI, replicas sharing Redis, socket-level limits, production
 * start-up checks), use startBrokerFixture (broker-fixture.ts) instead.
 *
 * ```ts
 * const fx = await startInProcessBroker();
 * const res = await fx.exchange({ ...fx.form(await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT })), audience: "https://a.example.com" });
 * await fx.close();
 * ```
 */
import { once } from "node:events";
import type { Server } from "node:http";
import { Readable } from "node:stream";
import { serve } from "@hono/node-server";
import type { Broker } from "../../src/build-broker.js";
import { loadConfig, type Config } from "../../src/config.js";
import { openBroker, type OpenOptions } from "../../src/open-adapters.js";
import type { AppEnv } from "../../src/http/app-env.js";
import { createLogger } from "../../src/lib/logger.js";
import type { BatchedLogOutput } from "../../src/lib/log-output.js";
import type { PolicyStore } from "../../src/policy/index.js";
import type { BrokerLogs, BrokerUnderTest } from "./broker-fixture.js";
import { freePort } from "./broker-process.js";
import { prepareBrokerFolder, type BrokerFixtureOptions } from "./broker-folder.js";
import { brokerClient, readAnswer } from "./broker-http.js";

export * from "./broker-folder.js";
export * from "./broker-http.js";

/** The issuer URL of every in-process broker: nothing listens there, nothing needs to. */
export const IN_PROCESS_URL = "http://broker.test";

/** The address requests come from, as a Node socket would give it to the broker. */
const CLIENT_ADDRESS = "127.0.0.1";

export interface InProcessBrokerOptions extends BrokerFixtureOptions {
  /**
   * Also serve the app on a loopback port (its URL is then the issuer URL): for a real client
   * process, such as the CLI, to reach the broker. The tests' own requests still go in-process.
   */
  readonly listen?: boolean;
  /** How the PKCS#11 token is opened (BROKER_SIGNING_KEYS=pkcs11): a test wraps the token worker. */
  readonly openToken?: OpenOptions["openToken"];
  /**
   * Where the logger writes instead of memory: a BatchedLogOutput on a file, as main.ts's on
   * stdout (one write per event-loop turn, answers waiting for it). `broker.output` then stays empty.
   */
  readonly logOutput?: BatchedLogOutput;
}

export interface InProcessBroker extends BrokerUnderTest {
  readonly app: Broker["app"];
  readonly config: Config;
  readonly policies: PolicyStore;
  /**
   * fetch() for a test that follows URLs (metadata → jwks_uri): URLs under the broker's go to
   * the app, any other to the network.
   */
  fetch(url: string, init?: RequestInit): Promise<Response>;
}

/** Writes the folder, opens the broker's adapters over it and builds the broker in-process. */
export async function startInProcessBroker(options: InProcessBrokerOptions = {}): Promise<InProcessBroker> {
  const port = options.listen ? await freePort() : undefined;
  const url = port === undefined ? IN_PROCESS_URL : `http://127.0.0.1:${port}`;
  const folder = await prepareBrokerFolder(url, options);
  const opened: { close(): unknown }[] = [];
  const close = async () => {
    for (const each of opened.splice(0).reverse()) await each.close();
    await folder.close();
  };
  try {
    const config = loadConfig({ ...folder.env });
    if (config.redisUrl !== undefined || config.production) throw new Error("REDIS_URL and NODE_ENV=production need a broker process (startBrokerFixture)");
    const logs = memoryLogs();
    const logger = createLogger({ level: config.logLevel }, options.logOutput ?? { write: (line: string) => logs.write(line) });
    // The very function main.ts builds its broker with (open-adapters.ts): the same adapters.
    const { broker, verifier, policies, keys } = await openBroker(config, logger, options.openToken === undefined ? {} : { openToken: options.openToken });
    opened.push(keys, policies);
    opened.push(broker);
    if (port !== undefined) opened.push(await listen(broker.app, port));
    void verifier.warmUp();
    const send = (path: string, init?: RequestInit) => appRequest(broker.app, new Request(`${url}${path}`, init));
    return {
      ...withoutEnv(folder),
      ...brokerClient(async (path, init) => readAnswer(await send(path, init))),
      url,
      app: broker.app,
      config,
      policies,
      broker: logs,
      fetch: (target, init) => (target.startsWith(`${url}/`) ? appRequest(broker.app, new Request(target, init)) : fetch(target, init)),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * One request through the app as @hono/node-server hands it over: with the Node request (here a
 * stream of the body's bytes) whose socket carries the client's address.
 */
async function appRequest(app: Broker["app"], request: Request): Promise<Response> {
  const body = Buffer.from(await request.clone().arrayBuffer());
  const incoming = Object.assign(Readable.from(body.length > 0 ? [body] : []), { socket: { remoteAddress: CLIENT_ADDRESS } });
  return app.request(request, undefined, { incoming } as unknown as AppEnv["Bindings"]);
}

/** Serves the app on 127.0.0.1:`port` until closed. */
async function listen(app: Broker["app"], port: number): Promise<{ close(): Promise<void> }> {
  const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port }) as Server;
  await once(server, "listening");
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Log lines kept in memory, as a process's stdout would be read. */
function memoryLogs(): BrokerLogs & { write(chunk: string): void } {
  const output: string[] = [];
  return {
    output,
    write: (chunk) => void output.push(...chunk.split("\n").filter((line) => line !== "")),
    logRecords: () =>
      output.flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      }),
  };
}

function withoutEnv<T extends { env: unknown; close: unknown }>(folder: T): Omit<T, "env" | "close"> {
  const { env: _env, close: _close, ...rest } = folder;
  return rest;
}


