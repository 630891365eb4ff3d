/**
 * `npx tsx bench/svid-check-cost.ts`: two per-SVID costs of POST /svid/x509, each old way beside
 * the new, alternated for `BENCH_ROUNDS` rounds (default 10) of `BENCH_ITERATIONS` (default
 * 2,000), reported as the process's CPU µs per operation (median of the rounds):
 *
 * - the self-check of a signed P-256 SVID under the development CA: OpenSSL's X509Certificate
 *   reading (the validator until issue 14, kept as test/support/reference-svid-validator.ts)
 *   against the strict DER reader and one crypto.verify (src/credentials/x509/validate-svid.ts);
 * - the SVID record in a real redis-server (no replica), 50 at a time as concurrent requests
 *   make them: the replicated write's own pipeline (CLIENT INFO, ROLE, SET) against ROLE and SET
 *   on the client's auto-pipeline (replicatedSet).
 */
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { ensureDevCa, loadDevCa } from "../src/credentials/x509/ca-store.js";
import { signSvid } from "../src/credentials/x509/sign-svid.js";
import { svidSigningProfile } from "../src/credentials/x509/svid-signing-profile.js";
import { svidTemplate } from "../src/credentials/x509/svid-template.js";
import { validateSvid } from "../src/credentials/x509/validate-svid.js";
import { systemClock } from "../src/lib/clock.js";
import { replicatedSet, replicatedWrite } from "../src/redis/redis-replicated-write.js";
import { RedisStoreCore } from "../src/redis/redis-store-core.js";
import { referenceValidateSvid } from "../test/support/reference-svid-validator.js";
import { startRedisServer } from "../test/support/redis-server.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 2000);
const CONCURRENCY = 50;

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const cpuMicros = (usage: NodeJS.CpuUsage): number => usage.user + usage.system;

/** Alternates the ways for ROUNDS rounds; answers each way's median CPU µs per operation. */
async function alternate(ways: Record<string, () => Promise<void> | void>): Promise<Record<string, number>> {
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(ways).map((name) => [name, []]));
  for (let round = 0; round <= ROUNDS; round++) {
    for (const [name, once] of Object.entries(ways)) {
      const start = process.cpuUsage();
      let started = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (started++ < ITERATIONS) await once();
        }),
      );
      // Round 0 is the warm-up.
      if (round > 0) samples[name]?.push(cpuMicros(process.cpuUsage(start)) / ITERATIONS);
    }
  }
  return Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, Math.round(median(values) * 10) / 10]));
}

async function selfCheck(): Promise<Record<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), "svid-check-cost-"));
  await ensureDevCa(dir, "bench.test", new Date());
  const ca = await loadDevCa(dir, "bench.test", new Date());
  const profile = svidSigningProfile(ca);
  const issuer = new X509Certificate(Buffer.from(ca.certificate.rawData));
  await rm(dir, { recursive: true, force: true });
  const publicKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
  const spki = publicKey.export({ format: "der", type: "spki" });
  const spiffeId = "spiffe://bench.test/ns/payments/sa/ledger";
  const dnsNames = ["ledger.payments.svc"];
  const template = svidTemplate({ spiffeId, dnsNames, keyType: "ec", now: Math.floor(Date.now() / 1000), lifetimeSeconds: 3600, caNotAfter: Math.floor(Date.now() / 1000) + 86_400 });
  const der = await signSvid(profile, template, spki);
  const { serial, notBefore, notAfter, subject } = template;
  return alternate({
    "self-check, OpenSSL X509Certificate (before)": () => referenceValidateSvid(der, issuer, { spiffeId, dnsNames, publicKey, serial, notAfter }),
    "self-check, strict DER reader + crypto.verify (after)": () => validateSvid(der, profile, { spiffeId, dnsNames, spki, serial, notBefore, notAfter, subject }),
  });
}

async function svidRecord(): Promise<Record<string, number>> {
  const server = await startRedisServer();
  const client = new Redis(server.url, { enableAutoPipelining: true, maxRetriesPerRequest: 0 });
  const core = new RedisStoreCore(client, systemClock);
  const value = JSON.stringify({ serial: "0a".repeat(20), workloadId: "bench-workload", issuedAt: 1, issuedAtMs: 1000, expiresAt: 2 });
  const expireAt = Math.floor(Date.now() / 1000) + 600;
  let n = 0;
  try {
    return await alternate({
      "SVID record, own pipeline with CLIENT INFO and ROLE (before)": async () => {
        const key = `broker:svid:${n++}`;
        await replicatedWrite(core, "recordSvid", key, (batch) => batch.set(key, value, "EXAT", expireAt));
      },
      "SVID record, ROLE and SET auto-pipelined (after)": () => replicatedSet(core, "recordSvid", `broker:svid:${n++}`, value, expireAt),
    });
  } finally {
    await core.close();
    await server.stop();
  }
}

console.table({ ...(await selfCheck()), ...(await svidRecord()) });
