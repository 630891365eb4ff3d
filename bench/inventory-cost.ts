/**
 * `npx tsx bench/inventory-cost.ts`: what recording one issuance in the workload inventory costs
 * the broker process's CPU (ioredis encoding, the script calls, the deadline timer, decoding),
 * against a real redis-server started for the run. Two cases: one busy workload (the index and
 * policy rewrites skipped within a minute: one script per issuance) and a new workload every time
 * (three scripts); and what the broker does, through the recorder, which sums a busy workload's
 * issuances of a second into one write. `BENCH_INVENTORY_RECORDS` records (default 20,000), 64 in
 * flight at a time; CPU time from process.cpuUsage(), so a loaded machine slows the run but changes
 * the figure less.
 */
import { silentLog } from "../src/lib/log.js";
import { systemClock } from "../src/lib/clock.js";
import { createRedisClient, whenRedisReady } from "../src/redis/redis-connection.js";
import { RedisInventoryStore } from "../src/redis/redis-inventory-store.js";
import { DEFAULT_INVENTORY_BOUNDS, type IssuanceRecord } from "../src/inventory/inventory-store.js";
import { startRedisServer } from "../test/support/redis-server.js";
import { createIssuanceRecorder, DEFAULT_INVENTORY_COALESCE_MS } from "../src/inventory/issuance-recorder.js";

const RECORDS = Number(process.env.BENCH_INVENTORY_RECORDS ?? 20_000);
const IN_FLIGHT = 64;

async function measure(store: RedisInventoryStore, workloadOf: (index: number) => string): Promise<number> {
  const issued = (index: number): IssuanceRecord => {
    const now = Date.now();
    return { workloadId: workloadOf(index), policyId: "bench-policy", issuer: "bench", tokenType: "access_token", audiences: ["https://a.example.com"], scopes: ["read"], issuedAtMs: now, expiresAt: Math.floor(now / 1000) + 600 };
  };
  for (let index = 0; index < 500; index++) await store.record(issued(-1 - index));
  const started = process.cpuUsage();
  for (let start = 0; start < RECORDS; start += IN_FLIGHT) {
    await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, RECORDS - start) }, (_unused, offset) => store.record(issued(start + offset))));
  }
  const used = process.cpuUsage(started);
  return (used.user + used.system) / RECORDS;
}

/** Through the broker's recorder: every issuance handed over at once, then until all are written. */
async function measureRecorder(store: RedisInventoryStore): Promise<number> {
  let written = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const record = createIssuanceRecorder(store, {
    maxInFlight: 1024,
    coalesceMs: DEFAULT_INVENTORY_COALESCE_MS,
    onOutcome: () => {
      if (++written === RECORDS) done();
    },
  });
  const started = process.cpuUsage();
  for (let index = 0; index < RECORDS; index++) {
    const now = Date.now();
    record({ workloadId: "busy-workload", policyId: "bench-policy", issuer: "bench", tokenType: "access_token", audiences: ["https://a.example.com"], scopes: ["read"], issuedAtMs: now, expiresAt: Math.floor(now / 1000) + 600 });
  }
  await finished;
  const used = process.cpuUsage(started);
  return (used.user + used.system) / RECORDS;
}

const redis = await startRedisServer({ appendonly: false });
const client = createRedisClient(redis.url, { commandTimeoutMs: 2_000, connectTimeoutMs: 2_000, log: silentLog });
try {
  await whenRedisReady(client, 10_000);
  const store = new RedisInventoryStore(client, systemClock, DEFAULT_INVENTORY_BOUNDS);
  const busy = await measure(store, () => "busy-workload");
  const fresh = await measure(store, (index) => `workload-${index}`);
  process.stdout.write(`inventory record, one busy workload: ${busy.toFixed(1)} µs CPU per issuance\n`);
  process.stdout.write(`inventory record, a new workload each time: ${fresh.toFixed(1)} µs CPU per issuance\n`);
  const summed = await measureRecorder(store);
  process.stdout.write(`through the recorder (${DEFAULT_INVENTORY_COALESCE_MS} ms sums), one busy workload: ${summed.toFixed(1)} µs CPU per issuance\n`);
} finally {
  client.disconnect();
  await redis.stop();
}
