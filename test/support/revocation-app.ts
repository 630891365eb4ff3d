/**
 * The broker's HTTP app in-process (buildBroker + app.request()) with real parts: a real
 * MemoryRevocationStore, real keys in a temp dir, the real minter and broker-token verifier,
 * a ManualClock, and an audit sink that collects records. No issuers and no policies: these
 * tests cover introspection, revocation and the admin API, not exchanges.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Hono } from "hono";
import type { AuditEvent } from "../../src/audit/audit-event.js";
import { buildBroker } from "../../src/build-broker.js";
import { createAccessTokenMinter, type AccessTokenMinter, type IssuedToken } from "../../src/credentials/access-token.js";
import { FileKeyStore } from "../../src/credentials/file-key-store.js";
import type { AppEnv } from "../../src/http/app-env.js";
import { createTokenVerifier } from "../../src/identity/token-verifier.js";
import { ManualClock } from "../../src/lib/clock.js";
import { silentLog } from "../../src/lib/log.js";
import { createPolicySet } from "../../src/policy/index.js";
import { MemoryRateLimiter } from "../../src/rate-limit/memory-rate-limiter.js";
import { MemoryInventoryStore } from "../../src/inventory/memory-inventory-store.js";
import { MemoryRevocationStore } from "../../src/revocation/memory-revocation-store.js";
import { STORE_CALLS, StoreUnavailableError, type RevocationStore } from "../../src/revocation/revocation-store.js";
import { aroundCalls } from "../../src/lib/around-calls.js";
import { noNetwork, testBrokerSettings } from "./test-broker.js";

export const ISSUER = "https://broker.test.example";
export const ADMIN_SECRET = "test-admin-secret-0123456789-abcdefghijklmnop";
export const ADMIN_SCOPE = "broker:admin";
export const INTROSPECTION_SCOPE = "broker:introspect";
export const MAX_LIFETIME = 900;
/** 2027-01-15T08:00:00Z */
export const START_MS = 1_800_000_000_000;

/**
 * A revocation store that can be taken down: while `down`, every call but `close` throws
 * StoreUnavailableError, as the Redis store does when Redis is unreachable; otherwise it
 * answers from a real MemoryRevocationStore.
 */
export type SwitchableStore = RevocationStore & { down: boolean };

export function switchableStore(inner: RevocationStore): SwitchableStore {
  const store: SwitchableStore = {
    kind: inner.kind,
    down: false,
    ...aroundCalls(inner, { ...STORE_CALLS, close: null }, (_call, call) => (store.down ? Promise.reject(new StoreUnavailableError("store is down (test)")) : call())),
  };
  return store;
}

export interface RevocationApp {
  readonly app: Hono<AppEnv>;
  readonly clock: ManualClock;
  readonly store: SwitchableStore;
  readonly audit: AuditEvent[];
  readonly minter: AccessTokenMinter;
  /** A minter with another key (same issuer URL): tokens the broker must not accept. */
  readonly otherKeyMinter: AccessTokenMinter;
  /** A minter with another key and another issuer URL. */
  readonly foreignMinter: AccessTokenMinter;
  /** Mints a broker token: audience the broker itself unless given. */
  mint(options: { subject?: string; scopes?: readonly string[]; audiences?: readonly string[]; lifetime?: number; minter?: AccessTokenMinter }): Promise<IssuedToken>;
  close(): Promise<void>;
}

const NO_POLICIES = createPolicySet([], "none");

export async function createRevocationApp(options: { adminSecret?: string | null } = {}): Promise<RevocationApp> {
  const dir = await mkdtemp(join(tmpdir(), "broker-revocation-"));
  const clock = new ManualClock(START_MS);
  const keys = await FileKeyStore.generate(join(dir, "signing"));
  const otherKeys = await FileKeyStore.generate(join(dir, "other"));
  const store = switchableStore(new MemoryRevocationStore(clock));
  const audit: AuditEvent[] = [];
  const minter = createAccessTokenMinter({ issuer: ISSUER, keys, clock });
  const { app } = buildBroker(
    testBrokerSettings({
      issuerUrl: ISSUER,
      maxBodyBytes: 65_536,
      maxTokenLifetimeSeconds: MAX_LIFETIME,
      adminSecret: options.adminSecret === null ? undefined : (options.adminSecret ?? ADMIN_SECRET),
      adminScope: ADMIN_SCOPE,
      introspectionScope: INTROSPECTION_SCOPE,
    }),
    {
      keys,
      verifier: createTokenVerifier({ issuers: [], brokerIssuer: ISSUER, clock, fetch: noNetwork, log: silentLog }),
      policies: { current: () => NO_POLICIES },
      revocations: store,
      limiter: new MemoryRateLimiter(clock),
      inventory: new MemoryInventoryStore(clock),
      clock,
      log: silentLog,
      audit: { record: (event) => audit.push(event) },
    },
  );
  return {
    app,
    clock,
    store,
    audit,
    minter,
    otherKeyMinter: createAccessTokenMinter({ issuer: ISSUER, keys: otherKeys, clock }),
    foreignMinter: createAccessTokenMinter({ issuer: "https://elsewhere.example", keys: otherKeys, clock }),
    mint: (spec) =>
      (spec.minter ?? minter).mint({
        subject: spec.subject ?? "workload/a",
        audiences: spec.audiences ?? [ISSUER],
        scopes: spec.scopes ?? [],
        lifetimeSeconds: spec.lifetime ?? 600,
        extraClaims: {},
      }),
    close: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A form POST (application/x-www-form-urlencoded). */
export function formRequest(fields: Record<string, string | readonly string[]>, authorization?: string): RequestInit {
  const body = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) for (const item of typeof value === "string" ? [value] : value) body.append(name, item);
  return {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...(authorization ? { authorization } : {}) },
    body: body.toString(),
  };
}

/** A JSON request with the given method. */
export function jsonRequest(method: string, body: unknown, authorization?: string): RequestInit {
  return {
    method,
    headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  };
}

export const bearer = (credential: string) => `Bearer ${credential}`;
