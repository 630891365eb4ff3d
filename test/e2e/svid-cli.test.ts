/**
 * `broker svid` end to end: the real CLI process against the broker in-process, served on loopback, with SVIDs enabled
 * (a development root CA generated on first start). The workload's "projected token" is minted by
 * the fixture's Kubernetes test issuer and written to a file, as the kubelet would. Checked with
 * independent tools: openssl verifies the chain against bundle.pem and compares the public keys.
 */
import { execFile, spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { once } from "node:events";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backoffMs, renewalDelayMs } from "../../src/cli/svid-client.js";
import { eventually, startInProcessBroker, type InProcessBroker } from "../support/in-process-broker.js";
import { kubernetesClaims } from "../support/test-issuer.js";
import { openssl, scratch } from "../support/svid-harness.js";
import { CLI_ARGS } from "../support/compiled-broker.js";
import { ROOT } from "../support/repo-root.js";

const TRUST_DOMAIN = "cli.svid.test";
const SHORT_LIFETIME_SECONDS = 6;

let fx: InProcessBroker;
let tmp: Awaited<ReturnType<typeof scratch>>;

beforeAll(async () => {
  tmp = await scratch();
  fx = await startInProcessBroker({
    listen: true,
    env: { BROKER_TRUST_DOMAIN: TRUST_DOMAIN },
    policies: {
      "kubernetes-svid.policy.yaml": {
        id: "e2e-kubernetes-svid",
        issuer: "kubernetes",
        condition: 'identity.attributes.namespace == "payments" && identity.attributes.service_account == "ledger"',
        grant: {
          workload_id: "k8s/payments/ledger",
          spiffe_id: `spiffe://${TRUST_DOMAIN}/ns/payments/sa/ledger`,
          dns_names: ["ledger.payments.svc"],
          audiences: ["https://ledger-db.example.com"],
          max_lifetime: "30m",
          token_types: ["x509_svid"],
        },
      },
      // A very short lifetime, so --renew renews within seconds.
      "kubernetes-svid-short.policy.yaml": {
        id: "e2e-kubernetes-svid-short",
        issuer: "kubernetes",
        condition: 'identity.attributes.namespace == "payments" && identity.attributes.service_account == "rotator"',
        grant: {
          workload_id: "k8s/payments/rotator",
          spiffe_id: `spiffe://${TRUST_DOMAIN}/ns/payments/sa/rotator`,
          audiences: ["https://ledger-db.example.com"],
          max_lifetime: `${SHORT_LIFETIME_SECONDS}s`,
          token_types: ["x509_svid"],
        },
      },
    },
  });
}, 60_000);
afterAll(async () => {
  await fx?.close();
  await tmp?.close();
});

interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const cliArgs = (args: readonly string[]) => [...CLI_ARGS, "svid", "--broker", fx.url, ...args];

function cli(args: readonly string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, cliArgs(args), { cwd: ROOT, env: { PATH: process.env.PATH ?? "" } }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** A projected-token file for `serviceAccount` in payments; returns its path and the token. */
async function tokenFile(serviceAccount: string): Promise<{ path: string; token: string }> {
  const token = await fx.issuers.kubernetes.mint(kubernetesClaims({ serviceAccount }));
  const path = await tmp.write(`${serviceAccount}-${Math.random().toString(36).slice(2)}.jwt`, `${token}\n`);
  return { path, token };
}

/** The public key of svid.pem's leaf and of svid.key, as openssl prints them. */
async function publicKeys(dir: string): Promise<{ fromCert: string; fromKey: string }> {
  const fromCert = await openssl(["x509", "-in", "svid.pem", "-noout", "-pubkey"], dir);
  const fromKey = await openssl(["pkey", "-in", "svid.key", "-pubout"], dir);
  expect(fromCert.code).toBe(0);
  expect(fromKey.code).toBe(0);
  return { fromCert: fromCert.stdout, fromKey: fromKey.stdout };
}

async function leafOf(dir: string): Promise<X509Certificate | undefined> {
  try {
    return new X509Certificate(await readFile(join(dir, "svid.pem")));
  } catch {
    return undefined;
  }
}

// Each CLI call starts a node process (seconds on a loaded machine): a test runs several in a row.
describe("broker svid --once", { timeout: 90_000 }, () => {
  it("writes svid.pem, svid.key (0600) and bundle.pem that openssl verifies, with a key matching the certificate", async () => {
    const { path, token } = await tokenFile("ledger");
    const out = join(tmp.dir, "once");
    const result = await cli(["--token-file", path, "--out", out, "--once"]);
    expect(result.stderr).toContain(`wrote spiffe://${TRUST_DOMAIN}/ns/payments/sa/ledger`);
    expect(result.code).toBe(0);
    expect((await readdir(out)).sort()).toEqual(["bundle.pem", "svid.key", "svid.pem"]);
    expect((await stat(join(out, "svid.key"))).mode & 0o777).toBe(0o600);

    const verified = await openssl(["verify", "-CAfile", "bundle.pem", "svid.pem"], out);
    expect(verified.stdout).toContain("svid.pem: OK");
    const { fromCert, fromKey } = await publicKeys(out);
    expect(fromCert).toContain("BEGIN PUBLIC KEY");
    expect(fromCert).toBe(fromKey);

    const leaf = await leafOf(out);
    expect(leaf?.subjectAltName).toBe(`URI:spiffe://${TRUST_DOMAIN}/ns/payments/sa/ledger, DNS:ledger.payments.svc`);
    expect(leaf?.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    expect((await fx.get("/svid/bundle.pem")).text.trim()).toBe((await readFile(join(out, "bundle.pem"), "utf8")).trim());

    // Neither the token nor the private key ever reaches the output.
    const keyBody = (await readFile(join(out, "svid.key"), "utf8")).split("\n").filter((line) => line.length >= 32);
    for (const secret of [token, ...keyBody]) expect(result.stdout + result.stderr).not.toContain(secret);
  });

  it.each([
    ["ec-p384", (cert: X509Certificate) => expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe("secp384r1")],
    ["rsa-2048", (cert: X509Certificate) => expect(cert.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048)],
  ] as const)("--key-type %s", async (type, check) => {
    const { path } = await tokenFile("ledger");
    const out = join(tmp.dir, `once-${type}`);
    const result = await cli(["--token-file", path, "--out", out, "--key-type", type]);
    expect(result.code, result.stderr).toBe(0);
    const { fromCert, fromKey } = await publicKeys(out);
    expect(fromCert).toBe(fromKey);
    check((await leafOf(out)) as X509Certificate);
    expect((await openssl(["verify", "-CAfile", "bundle.pem", "svid.pem"], out)).stdout).toContain("svid.pem: OK");
  });

  it("exits non-zero with the broker's error when the policy does not grant an SVID, and writes nothing", async () => {
    const { path } = await tokenFile("api"); // e2e-kubernetes matches it but grants access tokens only
    const out = join(tmp.dir, "refused");
    const result = await cli(["--token-file", path, "--out", out]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/broker refused the SVID request \(400 invalid_request\): .*not granted/);
    await expect(readdir(out)).rejects.toMatchObject({ code: "ENOENT" });

    const stranger = await tokenFile("stranger"); // no policy at all
    const denied = await cli(["--token-file", stranger.path, "--out", out]);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain("unauthorized_client");
    await expect(readdir(out)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("refuses to run without a readable, non-empty token file or with a bad key type", async () => {
    const out = join(tmp.dir, "unusable");
    const missing = await cli(["--token-file", join(tmp.dir, "no-such-token"), "--out", out]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain("cannot read the token file");
    const empty = await tmp.write("empty.jwt", "\n");
    expect((await cli(["--token-file", empty, "--out", out])).stderr).toContain("is empty");
    const badKey = await cli(["--token-file", empty, "--out", out, "--key-type", "ed25519"]);
    expect(badKey.code).not.toBe(0);
    expect(badKey.stderr).toContain("ec-p256, ec-p384, rsa-2048");
    await expect(readdir(out)).rejects.toMatchObject({ code: "ENOENT" });
  });
});

describe("broker svid: a write that fails", () => {
  it("leaves no temporary copy of the private key behind when the final rename fails", async () => {
    const { path } = await tokenFile("ledger");
    const out = join(tmp.dir, "rename-fails");
    // svid.key is a folder: the key's temporary file is written, then its rename over svid.key fails.
    await mkdir(join(out, "svid.key"), { recursive: true });
    const result = await cli(["--token-file", path, "--out", out]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/EISDIR|illegal operation on a directory/);
    expect(await readdir(out)).toEqual(["svid.key"]);
    expect(await readdir(join(out, "svid.key"))).toEqual([]);
  });
});

/** Starts `broker svid --renew`; collects its stderr. */
function startRenewing(args: readonly string[]) {
  const child = spawn(process.execPath, cliArgs([...args, "--renew"]), { cwd: ROOT, env: { PATH: process.env.PATH ?? "" }, stdio: ["ignore", "pipe", "pipe"] });
  const output = { stderr: "" };
  child.stderr.on("data", (chunk: Buffer) => (output.stderr += chunk.toString("utf8")));
  const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  /** Waits (bounded) for the exit, SIGKILL after 10 s. */
  const exit = async () => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    const [code, signal] = await exited;
    clearTimeout(timer);
    return { code, signal };
  };
  return { child, output, exit };
}

describe("broker svid --renew", () => {
  it(`renews a ${SHORT_LIFETIME_SECONDS} s SVID at half-life with a new key, re-reading the token file and retrying a refusal, then stops on SIGTERM with exit 0`, async () => {
    const { path } = await tokenFile("rotator");
    const out = join(tmp.dir, "renew");
    const { child, output, exit } = startRenewing(["--token-file", path, "--out", out]);
    try {
      let first: X509Certificate | undefined;
      await eventually(async () => (first = await leafOf(out)) !== undefined, 15_000, "the first svid.pem");
      const firstSerial = (first as X509Certificate).serialNumber;
      const firstKey = await readFile(join(out, "svid.key"), "utf8");
      expect(Date.parse((first as X509Certificate).validTo) - Date.now()).toBeLessThanOrEqual(SHORT_LIFETIME_SECONDS * 1000);

      // The token file now holds a token the policy refuses: the renewal at half-life fails and is retried.
      await writeFile(path, `${(await tokenFile("api")).token}\n`);
      await eventually(() => output.stderr.includes("renewal failed (attempt 1)"), 15_000, "a failed renewal");
      expect(output.stderr).toMatch(/renewal failed \(attempt 1\): broker refused the SVID request \(400 invalid_request\): .*not granted.*; retrying in 1\.0 s/);
      expect((await leafOf(out))?.serialNumber).toBe(firstSerial);

      // The kubelet rotates the projected token: the retry reads the new one and succeeds.
      await writeFile(path, `${(await tokenFile("rotator")).token}\n`);
      let renewed: X509Certificate | undefined;
      await eventually(
        async () => {
          renewed = await leafOf(out);
          return renewed !== undefined && renewed.serialNumber !== firstSerial && output.stderr.includes("renewed");
        },
        15_000,
        "a renewal (a new serial in svid.pem)",
      );
      expect(output.stderr).toMatch(new RegExp(`renewed spiffe://${TRUST_DOMAIN}/ns/payments/sa/rotator: serial [0-9a-f]+, expires `));
      expect(await readFile(join(out, "svid.key"), "utf8")).not.toBe(firstKey);
      // Between two renewals (the next is seconds away) the files are consistent.
      await eventually(
        async () => {
          const { fromCert, fromKey } = await publicKeys(out);
          return fromCert === fromKey;
        },
        5_000,
        "svid.key matching svid.pem",
      );
      expect((await openssl(["verify", "-CAfile", "bundle.pem", "svid.pem"], out)).stdout).toContain("svid.pem: OK");
      expect((await stat(join(out, "svid.key"))).mode & 0o777).toBe(0o600);
    } finally {
      child.kill("SIGTERM");
    }
    expect({ ...(await exit()), stderr: output.stderr }).toMatchObject({ code: 0, signal: null });
    expect(output.stderr).toContain("broker svid: stopped");
    expect((await readdir(out)).sort()).toEqual(["bundle.pem", "svid.key", "svid.pem"]);
  }, 40_000);

  it("exits non-zero once the current SVID expired without a successful renewal, leaving the last one in place", async () => {
    const { path } = await tokenFile("rotator");
    const out = join(tmp.dir, "renew-expiry");
    const { child, output, exit } = startRenewing(["--token-file", path, "--out", out]);
    try {
      await eventually(async () => (await leafOf(out)) !== undefined, 15_000, "the first svid.pem");
      const serial = (await leafOf(out))?.serialNumber;
      await writeFile(path, "not-a-jwt\n");
      await eventually(() => child.exitCode !== null, 20_000, "the helper to give up");
      expect(child.exitCode).toBe(1);
      expect(output.stderr).toMatch(/expired at .* without a successful renewal; last error: broker refused the SVID request \(400 invalid_request\)/);
      expect((await leafOf(out))?.serialNumber).toBe(serial);
    } finally {
      child.kill("SIGTERM");
    }
    expect((await exit()).code).toBe(1);
  }, 40_000);
});

describe("renewal timing", () => {
  it("renews at half of the remaining lifetime, ±10%", () => {
    expect(renewalDelayMs(0, 3_600_000, 0.5)).toBe(1_800_000);
    expect(renewalDelayMs(0, 3_600_000, 0)).toBe(1_620_000);
    expect(renewalDelayMs(0, 3_600_000, 0.999_999)).toBeLessThanOrEqual(1_980_000);
    expect(renewalDelayMs(10_000, 5_000, 0.5)).toBe(0);
  });

  it("backs off exponentially, capped at 30 s and never past the expiry", () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((attempt) => backoffMs(attempt, 3_600_000))).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
    expect(backoffMs(100, 3_600_000)).toBe(30_000);
    expect(backoffMs(5, 2_500)).toBe(2_500);
    expect(backoffMs(1, -10)).toBe(0);
  });
});
