/**
 * A real broker process (src/main.ts) on its own configuration folder (broker-folder.ts). Tests
 * talk to it over HTTP only. For what needs a process: signals, the CLI, replicas sharing a Redis,
 * socket-level limits, production start-up checks; anything else builds the broker in-process
 * (in-process-broker.ts), on the same folder, through the same buildBroker.
 *
 * ```ts
 * const fx = await startBrokerFixture();
 * const token = await fx.issuers.github.mint(githubActionsClaims(), { alg: "RS256" });
 * const res = await fx.exchange({ ...fx.form(token), audience: "https://deploy.example.com" });
 * await fx.close();
 * ```
 */
import { freePort, startBroker, type BrokerProcess } from "./broker-process.js";
import { prepareBrokerFolder, type BrokerFixtureOptions, type BrokerFolder } from "./broker-folder.js";
import { brokerClient, requestBroker, type BrokerClient } from "./broker-http.js";

export * from "./broker-folder.js";
export * from "./broker-http.js";

/** The log lines a broker under test wrote: a process's stdout, or an in-process logger's. */
export type BrokerLogs = Pick<BrokerProcess, "output" | "logRecords">;

/** A broker under test, however it runs: its folder, its issuers, its logs and a client. */
export interface BrokerUnderTest extends Omit<BrokerFolder, "env" | "close">, BrokerClient {
  readonly url: string;
  readonly broker: BrokerLogs;
  close(): Promise<void>;
}

export interface BrokerFixture extends BrokerUnderTest {
  readonly broker: BrokerProcess;
  /**
   * Starts another broker process (a replica) over the same policy folder, issuers and keys, on
   * its own port, with the same issuer URL (the first broker's), so tokens of either verify on
   * both. Its environment is the fixture's plus `env`. close() stops it too.
   */
  startReplica(env?: Readonly<Record<string, string>>): Promise<BrokerProcess>;
}

/** Starts the five profile issuers, writes the config folder, and starts the broker on it. */
export async function startBrokerFixture(options: BrokerFixtureOptions = {}): Promise<BrokerFixture> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const folder = await prepareBrokerFolder(url, options);
  const processes: BrokerProcess[] = [];
  const close = async () => {
    await Promise.all(processes.map((child) => child.stop()));
    await folder.close();
  };
  try {
    const broker = await startBroker({ BROKER_PORT: String(port), ...folder.env });
    processes.push(broker);
    const { env: _env, close: _close, ...shared } = folder;
    return {
      ...shared,
      ...brokerClient((path, init) => requestBroker(url, path, init)),
      broker,
      url,
      startReplica: async (env = {}) => {
        // A port of its own: BROKER_PORT from the fixture's env would collide with the first broker.
        const replica = await startBroker({ ...folder.env, BROKER_PORT: String(await freePort()), ...env });
        processes.push(replica);
        return replica;
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
