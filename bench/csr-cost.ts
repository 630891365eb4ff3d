/**
 * `npx tsx bench/csr-cost.ts`: what one POST /svid/x509 costs the broker's CPU, by the CSR a caller
 * sends, with and without a valid subject token. Starts a real broker process from source (tsx;
 * `BENCH_BROKER=dist` runs dist/main.js after `npm run build`), sends each scenario's request
 * `BENCH_CSR_REQUESTS` times (default 400, 4 at a time) after 40 unmeasured ones, and reads the
 * server's CPU time from /proc/<pid>/stat: µs per request. The worst CSR an unauthenticated caller
 * can send must stay within ~2× an ordinary P-256 CSR (docs/security.md).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createPrivateKey, generateKeyPairSync, randomBytes } from "node:crypto";
import { cp, mkdir, mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateKeyAndCsr } from "../src/cli/svid-client.js";
import { devIssuerPaths } from "../src/credentials/dev-material.js";
import { signJwt } from "../src/credentials/jwt-signer.js";
import { toSigningKey } from "../src/credentials/signing-key.js";
import { bitString, DER_NULL, oid, sequence, tlv, unsignedInteger } from "../src/credentials/x509/der-writer.js";
import { freePort } from "../test/support/broker-process.js";
import { BROKER_ARGS } from "./processes.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const REQUESTS = Number(process.env.BENCH_CSR_REQUESTS ?? 400);
const CONCURRENCY = 4;
const DEV_ISSUER = "https://dev-issuer.invalid";
const JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt";

async function cpuMicros(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]?.split(" ") ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / 100;
}

async function startBroker(env: Record<string, string>, logFile: string): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const log = await open(logFile, "a");
  const args = process.env.BENCH_BROKER === "dist" ? BROKER_ARGS : ["--import", "tsx", "src/main.ts"];
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? "", ...env, BROKER_PORT: String(port) }, stdio: ["ignore", log.fd, log.fd] });
  await log.close();
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`broker exited with ${child.exitCode}; see ${logFile}`);
    if (Date.now() > deadline) throw new Error(`broker did not answer within 30 s; see ${logFile}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) return { child, url };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Random signature bytes that are a number below any modulus of that size, so verification really runs. */
function belowModulus(bytes: number): Buffer {
  const signature = randomBytes(bytes);
  signature[0] = 0x01;
  return signature;
}

const pemOf = (der: Buffer): string =>
  `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64").match(/.{1,64}/g)?.join("\n")}\n-----END CERTIFICATE REQUEST-----\n`;

/**
 * A hand-made RSA CSR: a modulus of `bits` (a real one, or made up when the exponent is), the given
 * exponent (hex), random signature bytes below the modulus (so verification really runs).
 */
function rsaCsr(bits: number, exponentHex: string): string {
  const n =
    exponentHex === "010001"
      ? Buffer.from(generateKeyPairSync("rsa", { modulusLength: bits }).publicKey.export({ format: "jwk" }).n ?? "", "base64url").toString("hex")
      : `c${randomBytes(bits / 8 - 1).toString("hex")}1`;
  const spki = sequence(sequence(oid("1.2.840.113549.1.1.1"), DER_NULL), bitString(sequence(unsignedInteger(n), unsignedInteger(exponentHex))));
  const info = sequence(unsignedInteger("00"), sequence(), spki, tlv(0xa0));
  return pemOf(sequence(info, sequence(oid("1.2.840.113549.1.1.11"), DER_NULL), bitString(belowModulus(bits / 8))));
}

/** A P-256 CSR as large as the broker takes (just under 8192 characters): the most to parse. */
async function largestP256Csr(): Promise<string> {
  const { csrPem } = await generateKeyAndCsr("ec-p256");
  const der = Buffer.from(csrPem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64");
  // Pad the certificationRequestInfo's attributes with junk until the PEM is near the cap; the
  // signature no longer matches, which only shows once the token is verified.
  const [version, subject, spki] = [unsignedInteger("00"), sequence(), Buffer.from(der.subarray(der.indexOf(Buffer.from([0x30, 0x59])), der.indexOf(Buffer.from([0x30, 0x59])) + 0x5b))];
  const attribute = (i: number) => sequence(oid(`1.2.3.4.${i}`), tlv(0x31, tlv(0x0c, Buffer.from("x".repeat(40)))));
  const attributes: Buffer[] = [];
  for (let i = 0; pemOf(sequence(sequence(version, subject, spki, tlv(0xa0, ...attributes)), sequence(oid("1.2.840.10045.4.3.2")), bitString(randomBytes(72)))).length < 8000; i++) attributes.push(attribute(i));
  return pemOf(sequence(sequence(version, subject, spki, tlv(0xa0, ...attributes)), sequence(oid("1.2.840.10045.4.3.2")), bitString(randomBytes(72))));
}

async function measure(url: string, pid: number, body: string): Promise<{ micros: number; statuses: Record<number, number> }> {
  const send = async () => {
    const res = await fetch(`${url}/svid/x509`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body });
    await res.arrayBuffer();
    return res.status;
  };
  const batch = async (count: number) => {
    const statuses: Record<number, number> = {};
    let left = count;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (left-- > 0) {
          const status = await send();
          statuses[status] = (statuses[status] ?? 0) + 1;
        }
      }),
    );
    return statuses;
  };
  await batch(40);
  const before = await cpuMicros(pid);
  const statuses = await batch(REQUESTS);
  return { micros: Math.round(((await cpuMicros(pid)) - before) / REQUESTS), statuses };
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "broker-csr-cost-"));
  const keysDir = join(work, "keys");
  const policyDir = join(work, "policies");
  await mkdir(policyDir);
  await cp(join(ROOT, "policies/local-dev.policy.yaml"), join(policyDir, "local-dev.policy.yaml"));
  // Its fixtures too: the broker puts a policy in force only with them (BROKER_POLICY_FIXTURES).
  await cp(join(ROOT, "policies/local-dev.test.yaml"), join(policyDir, "local-dev.test.yaml"));
  await writeFile(
    join(policyDir, "issuers.yaml"),
    `issuers:\n  - id: local-dev\n    issuer: ${DEV_ISSUER}\n    profile: oidc\n    keys: { jwks_file: ${devIssuerPaths(keysDir).jwks} }\n    algorithms: [ES256]\n    max_token_age: 1h\n`,
  );
  const broker = await startBroker(
    { BROKER_KEYS_DIR: keysDir, BROKER_POLICY_DIR: policyDir, BROKER_DEV_KEYS: "on", BROKER_WATCH_POLICIES: "false", LOG_LEVEL: "info", BROKER_RATE_LIMIT_CLIENT: "off", BROKER_RATE_LIMIT_WORKLOAD: "off" },
    join(work, "broker.log"),
  );
  try {
    const devKey = await toSigningKey(createPrivateKey(await readFile(devIssuerPaths(keysDir).privateKey, "utf8")));
    const now = Math.floor(Date.now() / 1000);
    const token = await signJwt(devKey, "JWT", { iss: DEV_ISSUER, sub: "demo-workload", aud: broker.url, iat: now, exp: now + 3000 });
    // What an unauthenticated caller has at best: a well-formed token of a trusted issuer, signature forged.
    const forged = `${token.slice(0, token.lastIndexOf(".") + 1)}${randomBytes(64).toString("base64url")}`;
    const p256 = (await generateKeyAndCsr("ec-p256")).csrPem;
    const csrs: [string, string][] = [
      ["P-256 (ordinary)", p256],
      ["RSA-3072, 3,000-bit exponent, random signature", rsaCsr(3072, `c${randomBytes(374).toString("hex")}1`)],
      ["RSA-4096, exponent 65537, random signature", rsaCsr(4096, "010001")],
      ["P-256, padded to 8,000 characters", await largestP256Csr()],
    ];
    // Unmeasured: let the JIT settle on the whole path before the first measured scenario.
    await measure(broker.url, broker.child.pid ?? 0, new URLSearchParams({ subject_token: token, subject_token_type: JWT_TYPE, csr: p256 }).toString());
    const rows: Record<string, string | number>[] = [];
    for (const [caller, subjectToken] of [["unauthenticated (forged token)", forged], ["authenticated (valid token)", token]] as const) {
      for (const [name, csr] of csrs) {
        const body = new URLSearchParams({ subject_token: subjectToken, subject_token_type: JWT_TYPE, csr }).toString();
        const { micros, statuses } = await measure(broker.url, broker.child.pid ?? 0, body);
        rows.push({ caller, csr: name, "CPU µs/req": micros, statuses: JSON.stringify(statuses) });
        console.log(`${caller} | ${name}: ${micros} µs CPU/request ${JSON.stringify(statuses)}`);
      }
    }
    console.table(rows);
  } finally {
    broker.child.kill("SIGTERM");
    await new Promise((resolve) => broker.child.once("exit", resolve));
    await rm(work, { recursive: true, force: true });
  }
}

await main();
