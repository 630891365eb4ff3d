/**
 * GET /metrics for a group of workers (BROKER_WORKERS > 1). The worker that receives the scrape
 * asks the primary over the cluster's IPC channel; the primary asks every listening worker for a
 * snapshot of its registry, merges them with prom-client's aggregation
 * (metrics/aggregate-scrapes.ts) and answers the asking worker. A snapshot that does not come (a
 * worker slow, or gone mid-scrape) fails the scrape (503): a sum missing one worker would make
 * counters seem to go down.
 */
import cluster, { type Worker } from "node:cluster";
import { aggregateScrapes, type MetricsSnapshot, type Scrape } from "./metrics/aggregate-scrapes.js";
import { BrokerMetrics } from "./metrics/broker-metrics.js";

/** How long the primary waits for every worker's snapshot; below Prometheus's default 10 s scrape timeout. */
const COLLECT_TIMEOUT_MS = 3_000;
/** How long a worker waits for the primary's merged answer (the primary's own wait, plus margin). */
const SCRAPE_TIMEOUT_MS = 5_000;

/** The messages of the relay, told apart from anything else on the channel by `broker`. */
type RelayMessage =
  | { readonly broker: "scrape"; readonly id: number }
  | { readonly broker: "collect"; readonly id: number }
  | { readonly broker: "collected"; readonly id: number; readonly snapshot?: MetricsSnapshot; readonly error?: string }
  | { readonly broker: "scraped"; readonly id: number; readonly scrape?: Scrape; readonly error?: string };

function isRelayMessage(message: unknown): message is RelayMessage {
  return typeof message === "object" && message !== null && typeof (message as { broker?: unknown }).broker === "string" && typeof (message as { id?: unknown }).id === "number";
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * A worker's metrics: its own registry, scraped as the whole group's through the primary; and the
 * answer to the primary's requests for this worker's snapshot.
 */
export function workerMetrics(version: string): BrokerMetrics {
  const waiting = new Map<number, { resolve(scrape: Scrape): void; reject(error: Error): void }>();
  let nextId = 0;
  const groupScrape = () =>
    new Promise<Scrape>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => settle(id, { error: `the primary did not answer within ${SCRAPE_TIMEOUT_MS} ms` }), SCRAPE_TIMEOUT_MS);
      waiting.set(id, { resolve: (scrape) => (clearTimeout(timer), resolve(scrape)), reject: (error) => (clearTimeout(timer), reject(error)) });
      send({ broker: "scrape", id }, (error) => settle(id, { error: `the primary cannot be asked: ${error.message}` }));
    });
  const settle = (id: number, answer: { scrape?: Scrape; error?: string }) => {
    const pending = waiting.get(id);
    waiting.delete(id);
    if (answer.scrape !== undefined) pending?.resolve(answer.scrape);
    else pending?.reject(new Error(answer.error ?? "no answer"));
  };
  const metrics = new BrokerMetrics({ version }, { groupScrape });
  process.on("message", (message: unknown) => {
    if (!isRelayMessage(message)) return;
    if (message.broker === "scraped") settle(message.id, message);
    if (message.broker === "collect") {
      metrics.snapshot().then(
        (snapshot) => send({ broker: "collected", id: message.id, snapshot }),
        (error: unknown) => send({ broker: "collected", id: message.id, error: messageOf(error) }),
      );
    }
  });
  return metrics;
}

/** Sends to the primary; a closed channel (the primary is gone) goes to `failed`, never throws. */
function send(message: RelayMessage, failed: (error: Error) => void = () => undefined): void {
  if (process.send === undefined) return failed(new Error("not a cluster worker"));
  process.send(message, undefined, {}, (error: Error | null) => {
    if (error) failed(error);
  });
}

/** The primary's half: answers each worker's scrape with every listening worker's snapshot, merged. */
export function relayScrapes(listening: () => readonly Worker[]): { workerGone(worker: Worker): void } {
  const collections = new Map<number, { received(worker: Worker, message: RelayMessage & { broker: "collected" }): void; gone(worker: Worker): void }>();
  let nextId = 0;
  const collectAll = (): Promise<Scrape> =>
    new Promise<Scrape>((resolve, reject) => {
      const id = nextId++;
      const workers = listening();
      const missing = new Set(workers.map((worker) => worker.id));
      const snapshots: MetricsSnapshot[] = [];
      const finish = (error?: Error) => {
        clearTimeout(timer);
        collections.delete(id);
        if (error) reject(error);
        else aggregateScrapes(snapshots).then(resolve, reject);
      };
      const timer = setTimeout(() => finish(new Error(`worker(s) ${[...missing].join(", ")} sent no metrics within ${COLLECT_TIMEOUT_MS} ms`)), COLLECT_TIMEOUT_MS);
      collections.set(id, {
        received(worker, message) {
          if (!missing.delete(worker.id)) return;
          if (message.snapshot === undefined) return finish(new Error(`worker ${worker.id}: ${message.error ?? "no snapshot"}`));
          snapshots.push(message.snapshot);
          if (missing.size === 0) finish();
        },
        gone: (worker) => (missing.has(worker.id) ? finish(new Error(`worker ${worker.id} exited during the scrape`)) : undefined),
      });
      if (workers.length === 0) return finish(new Error("no worker is listening"));
      for (const worker of workers) tell(worker, { broker: "collect", id });
    });
  // Scrapes that arrive while a collection is under way share it: GET /metrics is public, and a
  // flood of scrapes would otherwise ask every worker for a snapshot once per request.
  let collecting: Promise<Scrape> | undefined;
  const collectShared = (): Promise<Scrape> =>
    (collecting ??= collectAll().finally(() => {
      collecting = undefined;
    }));
  cluster.on("message", (worker: Worker, message: unknown) => {
    if (!isRelayMessage(message)) return;
    if (message.broker === "collected") collections.get(message.id)?.received(worker, message);
    if (message.broker === "scrape") {
      const reply = (answer: { scrape?: Scrape; error?: string }) => tell(worker, { broker: "scraped", id: message.id, ...answer });
      collectShared().then((scrape) => reply({ scrape }), (error: unknown) => reply({ error: messageOf(error) }));
    }
  });
  return { workerGone: (worker) => [...collections.values()].forEach((collection) => collection.gone(worker)) };
}

/** Sends to a worker; one whose channel has closed (it is exiting) is skipped: its exit settles what waits on it. */
function tell(worker: Worker, message: RelayMessage): void {
  if (worker.isConnected()) worker.send(message, undefined, {}, () => undefined);
}
