import cluster, { type Worker } from "node:cluster";
import { afterEach, describe, expect, it } from "vitest";
import { relayScrapes } from "../src/cluster-metrics.js";
import { BrokerMetrics } from "../src/metrics/broker-metrics.js";

/** A stand-in for a cluster worker: records what the primary sends it. */
function fakeWorker(id: number): Worker & { readonly sent: { broker: string; id: number; scrape?: { body: string } }[] } {
  const sent: { broker: string; id: number; scrape?: { body: string } }[] = [];
  return { id, sent, isConnected: () => true, send: (message: { broker: string; id: number }) => (sent.push(message), true) } as unknown as Worker & { sent: typeof sent };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("relayScrapes: the primary's half of a group scrape", () => {
  afterEach(() => cluster.removeAllListeners("message"));

  it("scrapes that arrive during a collection share it: each worker is asked once, every scraper answered", async () => {
    const workers = [fakeWorker(1), fakeWorker(2)];
    relayScrapes(() => workers);
    // Ten scrapes in one turn, as a flood of GET /metrics would send.
    for (let id = 0; id < 10; id++) cluster.emit("message", workers[id % 2], { broker: "scrape", id });
    for (const worker of workers) expect(worker.sent.filter((message) => message.broker === "collect")).toHaveLength(1);
    const snapshot = await new BrokerMetrics({ version: "1.0.0" }).snapshot();
    for (const worker of workers) {
      const collect = worker.sent.find((message) => message.broker === "collect");
      cluster.emit("message", worker, { broker: "collected", id: collect?.id, snapshot });
    }
    await tick();
    const answers = workers.flatMap((worker) => worker.sent.filter((message) => message.broker === "scraped"));
    expect(answers.map((answer) => answer.id).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(answers.every((answer) => answer.scrape?.body.includes("broker_build_info"))).toBe(true);

    // Once answered, the next scrape starts a collection of its own.
    cluster.emit("message", workers[0], { broker: "scrape", id: 10 });
    for (const worker of workers) expect(worker.sent.filter((message) => message.broker === "collect")).toHaveLength(2);
  });
});
