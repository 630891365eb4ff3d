/**
 * `npx tsx bench/pkcs11-signing-cost.ts`: what one signature costs through a PKCS#11 token
 * (SoftHSM2, initialised in a temp dir like the tests' token; graphene-pk11 in the broker's one
 * token worker thread, src/pkcs11/token-client.ts) beside the same signature with a key file
 * (node:crypto on the event-loop thread, src/credentials/signing-key.ts). For ES256 (P-256) and
 * RS256 (RSA-2048): `BENCH_SIGNATURES` signatures (default 2,000) one after another (latency),
 * then as many with 32 in flight (throughput), after 200 unmeasured ones. CPU is the whole
 * process's (every thread), per signature.
 */
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { TokenClient } from "../src/pkcs11/token-client.js";
import type { SignatureForm } from "../src/pkcs11/token-protocol.js";
import { createSoftHsmToken, useSoftHsmEnv } from "../test/support/softhsm.js";

const COUNT = Number(process.env.BENCH_SIGNATURES ?? 2_000);
const IN_FLIGHT = 32;
const WARM_UP = 200;
const input = Buffer.from("eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6IngifQ.eyJpc3MiOiJodHRwczovL2Jyb2tlciJ9");

interface Figures {
  readonly sequentialUs: number;
  readonly perSecond: number;
  readonly cpuUs: number;
}

async function measure(signOnce: () => Promise<unknown> | unknown): Promise<Figures> {
  for (let i = 0; i < WARM_UP; i += 1) await signOnce();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < COUNT; i += 1) await signOnce();
  const sequentialMs = performance.now() - t0;
  const t1 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < COUNT) {
        next += 1;
        await signOnce();
      }
    }),
  );
  const parallelMs = performance.now() - t1;
  const cpu = process.cpuUsage(cpu0);
  return { sequentialUs: (sequentialMs * 1000) / COUNT, perSecond: COUNT / (parallelMs / 1000), cpuUs: (cpu.user + cpu.system) / (2 * COUNT) };
}

const fileSigner = (key: KeyObject, alg: "ES256" | "RS256") => () => sign("sha256", input, alg === "ES256" ? { key, dsaEncoding: "ieee-p1363" } : key);

async function main(): Promise<void> {
  const token = createSoftHsmToken("bench");
  useSoftHsmEnv(token);
  const client = await TokenClient.open({ module: token.module, token: token.label, pin: token.pin }, { timeoutMs: 10_000, maxQueued: 1_024 });
  try {
    await client.call("generate", "es", { kind: "ec", curve: "P-256" });
    await client.call("generate", "rs", { kind: "rsa", bits: 2048 });
    const tokenSigner = (label: string, form: SignatureForm) => () => client.call("sign", label, form, input);
    const rows: [string, Figures][] = [
      ["ES256, key file (node:crypto)", await measure(fileSigner(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey, "ES256"))],
      ["ES256, PKCS#11 token (SoftHSM2, worker thread)", await measure(tokenSigner("es", "ES256"))],
      ["RS256, key file (node:crypto, RSA-2048)", await measure(fileSigner(generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey, "RS256"))],
      ["RS256, PKCS#11 token (SoftHSM2, RSA-2048, worker thread)", await measure(tokenSigner("rs", "RS256"))],
    ];
    process.stdout.write(`${COUNT} signatures each; node ${process.version}\n`);
    process.stdout.write("| signature | one at a time: µs each | 32 in flight: signatures/s | process CPU µs per signature |\n|---|---|---|---|\n");
    for (const [name, f] of rows) process.stdout.write(`| ${name} | ${f.sequentialUs.toFixed(0)} | ${Math.round(f.perSecond).toLocaleString("en")} | ${f.cpuUs.toFixed(0)} |\n`);
  } finally {
    await client.close();
    token.remove();
  }
}

await main();
