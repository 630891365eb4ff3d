/**
 * The broker's HTTP app in-process, built by buildBroker as main.ts builds it: a real token
 * verifier over two loopback test issuers (one single-use), real policies, keys, minter, dev CA
 * and X.509-SVID issuance, a real MemoryRevocationStore, the rate-limit gate over a real limiter
 * (memory by default), and an audit sink that collects records. One ManualClock drives it all.
 * Requests carry a client address as a Node socket would give it.
 */
import { fixedCaSource, singleCaSet } from "../../src/credentials/x509/ca-set.js";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { vi } from "vitest";
import type { Hono } from "hono";
import type { AuditEvent } from "../../src/audit/audit-event.js";
import { buildBroker, type BrokerPorts } from "../../src/build-broker.js";
import { generateKeyAndCsr } from "../../src/cli/svid-client.js";
import { FileKeyStore } from "../../src/credentials/file-key-store.js";
import { ensureDevCa, loadDevCa } from "../../src/credentials/x509/ca-store.js";
import type { AppEnv } from "../../src/http/app-env.js";
import { createTokenVerifier } from "../../src/identity/token-verifier.js";
import { ManualClock } from "../../src/lib/clock.js";
import { globalHttpFetch } from "../../src/lib/http-fetch.js";
import { silentLog } from "../../src/lib/log.js";
import type { Semaphore } from "../../src/lib/semaphore.js";
import { BrokerMetrics } from "../../src/metrics/broker-metrics.js";
import { loadPolicySet } from "../../src/policy/index.js";
import { MemoryRateLimiter } from "../../src/rate-limit/memory-rate-limiter.js";
import { parseRateLimit } from "../../src/rate-limit/rate-limit-setting.js";
import type { LimitKind, RateLimit, RateLimiter } from "../../src/rate-limit/rate-limiter.js";
import type { ShedWork } from "../../src/rate-limit/shed-load.js";
import { MemoryRevocationStore } from "../../src/revocation/memory-revocation-store.js";
import { issuerConfig } from "./identity.js";
import { testBrokerSettings } from "./test-broker.js";
import { startTestIssuer, type TestIssuer } from "./test-issuer.js";

export const BROKER = "https://broker.test";
export const GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange";
export const JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt";
export const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";
export const AUDIENCE = "https://api.example.com";
const TRUST_DOMAIN = "rl.test";

/** alice and alice-2 share one workload; bob has his own; carol's tokens are single-use. */
const POLICIES: Record<string, string> = {
  "a-shared.policy.yaml": `id: shared
issuer: main
condition: identity.subject in ["alice", "alice-2"]
grant:
  workload_id: wl/shared
  spiffe_id: spiffe://${TRUST_DOMAIN}/shared
  audiences: [${AUDIENCE}]
  max_lifetime: 10m
  token_types: [access_token, x509_svid]
`,
  "b-other.policy.yaml": `id: other
issuer: main
condition: identity.subject == "bob"
grant:
  workload_id: wl/other
  spiffe_id: spiffe://${TRUST_DOMAIN}/other
  audiences: [${AUDIENCE}]
  max_lifetime: 10m
  token_types: [access_token, x509_svid]
`,
  "c-once.policy.yaml": `id: once
issuer: once
condition: identity.subject == "carol"
grant:
  workload_id: wl/once
  audiences: [${AUDIENCE}]
  max_lifetime: 10m
`,
};

/** A label value of a recorded counter call (`inc({ name: value })`). */
function labelOf(labels: unknown, name: string): string {
  const value: unknown = typeof labels === "object" && labels !== null ? (labels as Record<string, unknown>)[name] : undefined;
  if (typeof value !== "string") throw new Error(`counter call without a ${name} label`);
  return value;
}

export function rateLimit(text: string): RateLimit | undefined {
  const parsed = parseRateLimit(text);
  if (parsed !== undefined && "error" in parsed) throw new Error(`bad limit ${text}: ${parsed.error}`);
  return parsed;
}

export interface HarnessOptions {
  /** Rate-limit settings as in the environment; default "off" for both. */
  readonly client?: string;
  readonly workload?: string;
  /** The limiter; default a MemoryRateLimiter on the harness clock. */
  readonly limiter?: (clock: ManualClock) => RateLimiter;
  /** The in-flight bounds of /token and /svid/x509 (the test may hold their permits). */
  readonly workBounds?: { readonly token: Semaphore; readonly svid: Semaphore };
}

export interface RateLimitHarness {
  readonly app: Hono<AppEnv>;
  readonly clock: ManualClock;
  /** Tokens of this issuer are verified through discovery + JWKS fetched on first use. */
  readonly issuer: TestIssuer;
  /** An issuer with replay_protection: each token is single-use. */
  readonly onceIssuer: TestIssuer;
  readonly audit: AuditEvent[];
  /** One entry per refusal the gate counted (the rate-limit metric's input). */
  readonly limited: readonly LimitKind[];
  /** One entry per request shed for want of a permit (the shed metric's input). */
  readonly shed: readonly ShedWork[];
  /** A subject token of the main issuer for `sub`. */
  token(sub: string): Promise<string>;
  /** POST /token from `address` with a token exchange for `subjectToken` (fields override). */
  exchange(address: string, subjectToken: string, fields?: Record<string, string>): Promise<Response>;
  /** POST /svid/x509 from `address` for `subjectToken` with a fresh CSR. */
  svid(address: string, subjectToken: string): Promise<Response>;
  /** Any request from `address`. */
  request(address: string, path: string, init: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

export async function startHarness(options: HarnessOptions = {}): Promise<RateLimitHarness> {
  const dir = await mkdtemp(join(tmpdir(), "rate-limit-"));
  const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000);
  const issuer = await startTestIssuer({ clock, audience: BROKER });
  const onceIssuer = await startTestIssuer({ clock, audience: BROKER });
  try {
    const policyDir = join(dir, "policies");
    await mkdir(policyDir);
    for (const [name, text] of Object.entries(POLICIES)) await writeFile(join(policyDir, name), text);
    const policies = await loadPolicySet(policyDir, { knownIssuers: [{ id: "main", profile: "oidc" }, { id: "once", profile: "oidc" }], trustDomain: TRUST_DOMAIN });
    const verifier = createTokenVerifier({
      issuers: [
        await issuerConfig({ id: "main", issuer: issuer.url, keys: { discovery: true }, algorithms: ["ES256"] }),
        await issuerConfig({ id: "once", issuer: onceIssuer.url, keys: { discovery: true }, algorithms: ["ES256"], replay_protection: true }),
      ],
      brokerIssuer: BROKER,
      clock,
      fetch: globalHttpFetch,
      log: silentLog,
      allowLoopbackHttpJwksUri: true,
    });
    const keys = await FileKeyStore.generate(join(dir, "keys", "signing"));
    await ensureDevCa(join(dir, "keys"), TRUST_DOMAIN, new Date(clock.now()));
    const ca = await loadDevCa(join(dir, "keys"), TRUST_DOMAIN, new Date(clock.now()));
    const audit: AuditEvent[] = [];
    // The metrics the broker counts into, read back here in order of the calls.
    const metrics = new BrokerMetrics();
    const limitedCalls = vi.spyOn(metrics.rateLimited, "inc");
    const shedCalls = vi.spyOn(metrics.shed, "inc");
    const ports: BrokerPorts = {
      keys,
      verifier,
      policies: { current: () => policies },
      revocations: new MemoryRevocationStore(clock),
      limiter: options.limiter?.(clock) ?? new MemoryRateLimiter(clock),
      ca: fixedCaSource(singleCaSet(ca)),
      clock,
      log: silentLog,
      audit: { record: (event: AuditEvent) => void audit.push(event) },
      metrics,
      ...(options.workBounds ? { workBounds: options.workBounds } : {}),
    };
    const settings = testBrokerSettings({
      issuerUrl: BROKER,
      maxBodyBytes: 65_536,
      maxTokenLifetimeSeconds: 900,
      svidMaxLifetimeSeconds: 3600,
      adminSecret: undefined,
      rateLimits: { client: rateLimit(options.client ?? "off"), workload: rateLimit(options.workload ?? "off") },
    });
    const { app } = buildBroker(settings, ports);
    const request = async (address: string, path: string, init: RequestInit): Promise<Response> => {
      // What @hono/node-server passes: the Node request (a stream of the body) whose socket has the peer address.
      const incoming = Object.assign(Readable.from([Buffer.from(typeof init.body === "string" ? init.body : "")]), { socket: { remoteAddress: address } });
      return app.request(path, init, { incoming } as unknown as AppEnv["Bindings"]);
    };
    const form = (fields: Record<string, string>): RequestInit => ({
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields).toString(),
    });
    return {
      app,
      clock,
      issuer,
      onceIssuer,
      audit,
      get limited() {
        return limitedCalls.mock.calls.map(([labels]) => labelOf(labels, "limit") as LimitKind);
      },
      get shed() {
        return shedCalls.mock.calls.map(([labels]) => labelOf(labels, "work") as ShedWork);
      },
      token: (sub) => issuer.mint({ sub }),
      exchange: (address, subjectToken, fields = {}) =>
        request(address, "/token", form({ grant_type: GRANT_TYPE, subject_token: subjectToken, subject_token_type: JWT_TYPE, audience: AUDIENCE, ...fields })),
      svid: async (address, subjectToken) => {
        const { csrPem } = await generateKeyAndCsr("ec-p256");
        return request(address, "/svid/x509", form({ subject_token: subjectToken, subject_token_type: JWT_TYPE, csr: csrPem }));
      },
      request,
      close: async () => {
        await Promise.all([issuer.close(), onceIssuer.close()]);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await Promise.all([issuer.close(), onceIssuer.close()]);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
