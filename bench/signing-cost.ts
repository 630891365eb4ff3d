/**
 * `npx tsx bench/signing-cost.ts`: what one broker signature costs, by the signing key's algorithm,
 * and what signing RSA on the libuv thread pool saves the event loop. For each way of signing it
 * makes `BENCH_SIGNATURES` signatures (default 4,000) of a 600-byte signing input (a typical access
 * token's header and payload), 8 at a time as concurrent requests would, and reports per signature:
 * wall time, the process's CPU (every thread) and the event loop's busy time
 * (`performance.eventLoopUtilization`: the time the main thread could not serve anything else).
 *
 * - "key" rows sign through `toSigningKey(…).sign` (what the broker does: ES256 in place, RSA on the pool);
 * - "in place" RSA rows call node:crypto's synchronous `sign` with the same parameters, for comparison.
 */
import { constants, generateKeyPairSync, sign, type KeyObject, type SignKeyObjectInput } from "node:crypto";
import { performance } from "node:perf_hooks";
import { toSigningKey } from "../src/credentials/signing-key.js";
import type { BrokerSigningAlgorithm } from "../src/protocol/broker-tokens.js";

const SIGNATURES = Number(process.env.BENCH_SIGNATURES ?? 4000);
const CONCURRENCY = 8;
const INPUT = Buffer.alloc(600, "e");

interface Row {
  readonly way: string;
  readonly "wall µs/sig": number;
  readonly "process CPU µs/sig": number;
  readonly "event loop busy µs/sig": number;
}

async function measure(way: string, signOnce: () => unknown): Promise<Row> {
  for (let i = 0; i < 200; i++) await signOnce(); // warm-up
  const [cpu0, elu0, t0] = [process.cpuUsage(), performance.eventLoopUtilization(), performance.now()];
  let started = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (started++ < SIGNATURES) {
        await signOnce();
        // A turn of the loop between requests, as an HTTP server has.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }),
  );
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0);
  const per = (micros: number) => Math.round(micros / SIGNATURES);
  return { way, "wall µs/sig": per(wall * 1000), "process CPU µs/sig": per(cpu.user + cpu.system), "event loop busy µs/sig": per(elu.active * 1000) };
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  const rsa: Record<number, KeyObject> = { 2048: generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey, 3072: generateKeyPairSync("rsa", { modulusLength: 3072 }).privateKey };
  const es = await toSigningKey(ec, "ES256");
  rows.push(await measure("ES256 key (in place)", () => es.sign(INPUT)));
  for (const bits of [2048, 3072]) {
    for (const alg of ["RS256", "PS256"] as const satisfies readonly BrokerSigningAlgorithm[]) {
      const key = await toSigningKey(rsa[bits] as KeyObject, alg);
      const options: SignKeyObjectInput =
        alg === "RS256" ? { key: rsa[bits] as KeyObject, padding: constants.RSA_PKCS1_PADDING } : { key: rsa[bits] as KeyObject, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
      rows.push(await measure(`${alg} RSA-${bits} key (libuv pool)`, () => key.sign(INPUT)));
      rows.push(await measure(`${alg} RSA-${bits} in place`, () => sign("sha256", INPUT, options)));
    }
  }
  console.table(rows);
}

await main();
