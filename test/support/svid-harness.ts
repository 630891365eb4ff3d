/**
 * Shared parts of the SVID tests: real openssl (CSRs, verification), a real CA in a temp folder,
 * the real issuance use case over real policies and a real MemoryRevocationStore; only the
 * subject-token verifier is a fake implementing SubjectTokenVerifier.
 */
import { fixedCaSource, singleCaSet, type CaSource } from "../../src/credentials/x509/ca-set.js";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { AuditEvent } from "../../src/audit/audit-event.js";
import { ensureDevCa, loadDevCa, type CertificateAuthority } from "../../src/credentials/x509/ca-store.js";
import { BrokerError } from "../../src/errors/broker-error.js";
import { ManualClock } from "../../src/lib/clock.js";
import { loadPolicySet } from "../../src/policy/index.js";
import type { PolicySet } from "../../src/policy/types.js";
import { MemoryRevocationStore } from "../../src/revocation/memory-revocation-store.js";
import type { RevocationStore } from "../../src/revocation/revocation-store.js";
import { createIssueX509Svid, type IssueX509Svid } from "../../src/svid/issue-x509-svid.js";
import { subject } from "./policy.js";
import { FixedVerifier } from "./fixed-verifier.js";

const run = promisify(execFile);

export const TRUST_DOMAIN = "svid.test";

/** Runs openssl; resolves with its output and exit code (never rejects on a non-zero exit). */
export async function openssl(args: readonly string[], cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run("/usr/bin/openssl", [...args], { cwd, timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === "number" ? failed.code : 1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

/** A scratch folder for openssl's files. */
export async function scratch(): Promise<{ dir: string; write(name: string, text: string): Promise<string>; close(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "svid-test-"));
  return {
    dir,
    write: async (name, text) => {
      const path = join(dir, name);
      await writeFile(path, text);
      return path;
    },
    close: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Key specs for `openssl req -newkey`. */
export const KEYS = {
  p256: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
  p384: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
  rsa2048: ["-newkey", "rsa:2048"],
  rsa1024: ["-newkey", "rsa:1024"],
  secp256k1: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"],
  ed25519: ["-newkey", "ed25519"],
} as const;

/** A CSR made by openssl: PEM text and the private key's path. */
export async function makeCsr(
  dir: string,
  options: { key?: keyof typeof KEYS; subject?: string; addext?: readonly string[]; name?: string; sigopt?: readonly string[] } = {},
): Promise<{ pem: string; keyPath: string }> {
  const name = options.name ?? `csr-${Math.random().toString(36).slice(2)}`;
  const keyPath = join(dir, `${name}.key`);
  const csrPath = join(dir, `${name}.csr`);
  const args = ["req", "-new", ...KEYS[options.key ?? "p256"], "-nodes", "-keyout", keyPath, "-subj", options.subject ?? "/", "-out", csrPath];
  for (const extension of options.addext ?? []) args.push("-addext", extension);
  for (const option of options.sigopt ?? []) args.push("-sigopt", option);
  const result = await openssl(args);
  if (result.code !== 0) throw new Error(`openssl req failed: ${result.stderr}`);
  return { pem: await readFile(csrPath, "utf8"), keyPath };
}


export { FixedVerifier };

/** Policies: `ledger` (x509_svid + jwt, DNS names), `billing` (x509_svid), `tokens-only` (access_token). */
export const POLICIES: Record<string, string> = {
  "a-ledger.policy.yaml": `id: ledger
issuer: local-dev
condition: identity.subject == "ledger"
grant:
  workload_id: k8s/payments/ledger
  spiffe_id_expr: '"spiffe://${TRUST_DOMAIN}/ns/payments/sa/" + identity.subject'
  dns_names: [ledger.payments.svc, ledger.example.com]
  audiences: [https://ledger-db.example.com, https://audit.example.com]
  scopes: [ledger:read]
  max_lifetime: 30m
  token_types: [access_token, jwt, x509_svid]
`,
  "b-billing.policy.yaml": `id: billing
issuer: local-dev
condition: identity.subject == "billing"
grant:
  workload_id: k8s/payments/billing
  spiffe_id: spiffe://${TRUST_DOMAIN}/ns/payments/sa/billing
  audiences: [https://billing.example.com]
  max_lifetime: 10m
  token_types: [x509_svid]
`,
  "c-tokens.policy.yaml": `id: tokens-only
issuer: local-dev
condition: identity.subject == "tokens-only"
grant:
  workload_id: tokens-only
  audiences: [https://a.example.com]
  max_lifetime: 10m
`,
};

export interface SvidHarness {
  readonly dir: string;
  readonly ca: CertificateAuthority;
  /** The same CA as the use cases take it: a fixed set of one. */
  readonly cas: CaSource;
  readonly clock: ManualClock;
  readonly store: RevocationStore;
  readonly policies: PolicySet;
  readonly verifier: FixedVerifier;
  readonly audit: AuditEvent[];
  issue: IssueX509Svid;
  /** Issues for the subject named `token`, with a fresh request id. */
  request(token: string, csrPem: string): ReturnType<IssueX509Svid>;
  close(): Promise<void>;
}

/** A real dev CA, real policies and store, a clock near real time (openssl checks validity against it). */
export async function svidHarness(options: { maxLifetimeSeconds?: number; store?: RevocationStore; ca?: CertificateAuthority } = {}): Promise<SvidHarness> {
  const dir = await mkdtemp(join(tmpdir(), "svid-harness-"));
  const policyDir = join(dir, "policies");
  await mkdir(policyDir);
  for (const [name, text] of Object.entries(POLICIES)) await writeFile(join(policyDir, name), text);
  const policies = await loadPolicySet(policyDir, { knownIssuers: [{ id: "local-dev", profile: "oidc" }], trustDomain: TRUST_DOMAIN });
  // A minute behind real time: tests move it forward, and openssl refuses a CRL from its future.
  const clock = new ManualClock((Math.floor(Date.now() / 1000) - 60) * 1000);
  await ensureDevCa(join(dir, "keys"), TRUST_DOMAIN, new Date(clock.now()));
  const ca = options.ca ?? (await loadDevCa(join(dir, "keys"), TRUST_DOMAIN, new Date(clock.now())));
  const store = options.store ?? new MemoryRevocationStore(clock);
  const verifier = new FixedVerifier(
    Object.fromEntries(["ledger", "billing", "tokens-only", "stranger"].map((name) => [name, subject({ subject: name }, { sub: name })])),
  );
  const audit: AuditEvent[] = [];
  const maxLifetimeSeconds = options.maxLifetimeSeconds ?? 3600;
  const cas = fixedCaSource(singleCaSet(ca));
  const issue = createIssueX509Svid({ verifier, policies: () => policies, revocations: store, ca: cas, audit: { record: (event) => audit.push(event) }, clock, maxLifetimeSeconds });
  let counter = 0;
  return {
    dir,
    ca,
    cas,
    clock,
    store,
    policies,
    verifier,
    audit,
    issue,
    request: (token, csrPem) => issue({ subjectToken: token, csrPem, requestId: `req-${++counter}`, clientAddress: "10.0.0.1" }),
    close: () => rm(dir, { recursive: true, force: true }),
  };
}

/** The rejection a promise ends with, as a BrokerError. */
export async function refusal(promise: Promise<unknown>): Promise<BrokerError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof BrokerError) return error;
    throw error;
  }
  throw new Error("expected a refusal, got a result");
}
