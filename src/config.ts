import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { DEFAULT_PROOF_WINDOW_SECONDS } from "./dpop/verify-proof.js";
import { DEFAULT_REMOTE_JWKS_LIMITS } from "./identity/remote-jwks.js";
import { TRUST_DOMAIN_NAME } from "./identity/spiffe-id.js";
import { DEFAULT_VERIFIED_TOKEN_CACHE } from "./identity/verified-token-cache.js";
import { parseDurationSeconds, parseLongDurationSeconds } from "./lib/durations.js";
import { DEFAULT_INVENTORY_BOUNDS } from "./inventory/inventory-store.js";
import { DEFAULT_TRUST_DOMAIN } from "./policy/compile-policy.js";
import { DEFAULT_FIXTURE_REQUIREMENT, FIXTURE_REQUIREMENTS, type FixtureRequirement } from "./policy/fixture-gate.js";
import { B64TOKEN } from "./protocol/authorization-header.js";
import { DEFAULT_HOST, DEFAULT_KEYS_DIR, DEFAULT_POLICY_DIR, DEFAULT_PORT, defaultBrokerUrl, TOKEN_LIFETIME_CEILING_SECONDS } from "./protocol/broker-defaults.js";
import { isScopeToken } from "./protocol/scope.js";
import type { RateLimit } from "./rate-limit/rate-limiter.js";
import { PKCS11_ENV, pkcs11Settings, type Pkcs11Settings } from "./pkcs11/token-settings.js";
import { isPkcs11Uri } from "./protocol/pkcs11-uri.js";
import { defaultWaitTimeoutMs } from "./redis/revocation-replication.js";
import { duration, flag, integer, rateLimit, workerCount } from "./setting-schemas.js";

/** Every setting the broker reads, with its default. docs/configuration.md documents each one. */
export interface Config {
  readonly host: string;
  readonly port: number;
  /** `iss` of every credential the broker issues, and the audience subject tokens must carry by default. */
  readonly issuerUrl: string;
  readonly policyDir: string;
  readonly issuersFile: string;
  readonly keysDir: string;
  /** Where the signing keys of keys/signing/keyset.json are held: PEM files, or a PKCS#11 token (settings here). */
  readonly signingKeys: { readonly custody: "files" } | { readonly custody: "pkcs11"; readonly pkcs11: Pkcs11Settings };
  /** The PKCS#11 token (BROKER_PKCS11_*) when one is configured: the signing keys' or a CA key's home. */
  readonly pkcs11: Pkcs11Settings | undefined;
  /** Generate development keys on first start when none exist. */
  readonly devKeys: boolean;
  /** NODE_ENV=production: no development allowances (loopback http key URLs from discovery) and development material (issuer, keys, CA) refused at start. */
  readonly production: boolean;
  /** Global cap on issued credential lifetime, seconds. */
  readonly maxTokenLifetimeSeconds: number;
  readonly maxBodyBytes: number;
  readonly requestTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly shutdownGraceMs: number;
  readonly watchPolicies: boolean;
  /** `required`: a policy set is put in force only when its fixtures pass and cover every policy; `off`: untested. */
  readonly policyFixtures: FixtureRequirement;
  /** Least time between two fetches of one issuer's JWKS (unknown `kid` refetch), ms. */
  readonly jwksRefetchCooldownMs: number;
  /** How long fetched issuer keys are used before a background refresh, ms. */
  readonly jwksCacheMaxAgeMs: number;
  /** Reuse of a successful external-token verification for the same token, seconds; 0: off. */
  readonly verifiedTokenCacheSeconds: number;
  readonly verifiedTokenCacheMaxEntries: number;
  /** Redis for revocation state; undefined: in-memory (one process only). */
  readonly redisUrl: string | undefined;
  /** Bound on one Redis command: past it the request fails closed (503). */
  readonly redisCommandTimeoutMs: number;
  readonly redisConnectTimeoutMs: number;
  /** Replicas a revocation write must reach before it is acknowledged ("auto": see redis/revocation-replication.ts). */
  readonly redisRevocationReplicas: number | "auto";
  /** WAIT's timeout for a revocation write, below the command timeout. */
  readonly redisRevocationWaitMs: number;
  /** Bootstrap admin secret (Authorization: Bearer <secret> on /admin/); undefined: only admin tokens. */
  readonly adminSecret: string | undefined;
  /** Scope a broker access token needs for the admin API. */
  readonly adminScope: string;
  /** Scope a broker access token needs to call POST /introspect. */
  readonly introspectionScope: string;
  /**
   * Which broker access tokens must name the broker in `aud` to be used at the broker again
   * (RFC 9068 §4): `actor_token` (as actor), `all` (as actor and for re-exchange), `any` (neither).
   */
  readonly ownTokenAudience: "actor_token" | "all" | "any";
  /** SPIFFE trust domain of every SVID the broker issues (SPIFFE-ID §2.1). */
  readonly trustDomain: string;
  /** Global cap on X.509-SVID validity, seconds (a policy's max_lifetime may lower it). */
  readonly svidMaxLifetimeSeconds: number;
  /**
   * The CA that signs X.509-SVIDs in production: an intermediate's certificate and key, and the
   * chain above it up to the upstream root. `keyFile` is a path, or an RFC 7512 `pkcs11:` URI
   * naming the key in the token (kept as written). Undefined: the managed folder, else keys/ca/ (a
   * development root generated on first start when dev keys are allowed).
   */
  readonly ca: { readonly certFile: string; readonly keyFile: string; readonly chainFile: string | undefined } | undefined;
  /** The managed CA folder (ca-set.json; `broker ca`): BROKER_CA_DIR, default `<keysDir>/ca`. */
  readonly caDir: string;
  /** Warn (log, at start and on every CA reload) when a published CA expires within this many seconds. */
  readonly caExpiryWarningSeconds: number;
  /** How far ahead a CRL's nextUpdate lies, seconds. */
  readonly crlNextUpdateSeconds: number;
  /**
   * RFC 9449 DPoP: how far a proof's `iat` may lie from now (either side, seconds); whether /token
   * requires server nonces (§8); the secret every replica derives them from (undefined: per process).
   */
  readonly dpop: { readonly proofWindowSeconds: number; readonly nonce: "off" | "required"; readonly nonceSecret: string | undefined };
  /** Rate limits on /token and /svid/x509, per client address and per workload; undefined: off. */
  readonly rateLimits: { readonly client: RateLimit | undefined; readonly workload: RateLimit | undefined };
  /** Per replica: requests worked on at once and waiting; beyond both a request is shed (503). */
  readonly concurrency: {
    readonly token: { readonly inFlight: number; readonly queued: number };
    readonly svid: { readonly inFlight: number; readonly queued: number };
  };
  /**
   * The workload inventory (`GET /admin/workloads`, `broker inventory`): whether issuances are
   * recorded, how long a workload's record outlives its last issuance, how many workloads the
   * index holds. Undefined: off.
   */
  readonly inventory: { readonly ttlSeconds: number; readonly maxWorkloads: number } | undefined;
  /**
   * Broker worker processes (node:cluster) behind one port: 1 is one process and no cluster
   * primary at all; more need REDIS_URL (revocations, claims, rate limits and the inventory must be
   * shared by every worker).
   */
  readonly workers: number;
  /** Human-readable log lines (pino-pretty) instead of JSON: for a terminal, never for collection. */
  readonly logPretty: boolean;
  readonly logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
}

/** Concurrency defaults scale with the CPUs this process may use. */
const CPUS = availableParallelism();

/** RFC 6749 §3.3 scope-token: one scope value, no spaces. */
const scopeToken = (fallback: string) => z.string().default(fallback).pipe(z.string().refine(isScopeToken, "must be one scope value (no spaces or quotes)"));

/** A default held as a number elsewhere, written as the duration text a setting takes. */
const secondsText = (seconds: number) => `${seconds}s`;

const envSchema = z.object({
  BROKER_HOST: z.string().min(1).default(DEFAULT_HOST),
  BROKER_PORT: integer(0, 65_535, String(DEFAULT_PORT)),
  BROKER_ISSUER_URL: z.url({ protocol: /^https?$/ }).optional(),
  BROKER_POLICY_DIR: z.string().min(1).default(DEFAULT_POLICY_DIR),
  BROKER_ISSUERS_FILE: z.string().min(1).optional(),
  BROKER_KEYS_DIR: z.string().min(1).default(DEFAULT_KEYS_DIR),
  BROKER_DEV_KEYS: z.enum(["auto", "on", "off"]).default("auto"),
  BROKER_MAX_TOKEN_LIFETIME: duration("BROKER_MAX_TOKEN_LIFETIME", "15m", TOKEN_LIFETIME_CEILING_SECONDS),
  BROKER_MAX_BODY_BYTES: integer(1024, 1_048_576, "65536"),
  BROKER_REQUEST_TIMEOUT: duration("BROKER_REQUEST_TIMEOUT", "10s", 300),
  BROKER_HEADERS_TIMEOUT: duration("BROKER_HEADERS_TIMEOUT", "5s", 300),
  BROKER_SHUTDOWN_GRACE: duration("BROKER_SHUTDOWN_GRACE", "10s", 300),
  BROKER_WATCH_POLICIES: flag("true"),
  BROKER_POLICY_FIXTURES: z.enum(FIXTURE_REQUIREMENTS).default(DEFAULT_FIXTURE_REQUIREMENT),
  BROKER_JWKS_REFETCH_COOLDOWN: duration("BROKER_JWKS_REFETCH_COOLDOWN", secondsText(DEFAULT_REMOTE_JWKS_LIMITS.cooldownMs / 1000), 3600),
  BROKER_JWKS_CACHE_MAX_AGE: duration("BROKER_JWKS_CACHE_MAX_AGE", secondsText(DEFAULT_REMOTE_JWKS_LIMITS.cacheMaxAgeMs / 1000), 86_400),
  BROKER_TOKEN_CACHE_TTL: z
    .string()
    .default(secondsText(DEFAULT_VERIFIED_TOKEN_CACHE.ttlSeconds))
    .transform((text, ctx) => {
      if (text === "off" || text === "0") return 0;
      const seconds = parseDurationSeconds(text);
      // Past the JWKS cache age the cache would outlive the keys it relied on.
      if (seconds === undefined || seconds <= 0 || seconds > 600) {
        ctx.addIssue({ code: "custom", message: "BROKER_TOKEN_CACHE_TTL must be off or a duration like 30s or 2m, at most 600s" });
        return z.NEVER;
      }
      return seconds;
    }),
  BROKER_TOKEN_CACHE_MAX_ENTRIES: integer(1, 1_000_000, String(DEFAULT_VERIFIED_TOKEN_CACHE.maxEntries)),
  REDIS_URL: z
    .string()
    .regex(/^(rediss?|redis\+sentinel|redis\+cluster):\/\//, "must start with redis://, rediss://, redis+sentinel:// or redis+cluster://")
    .optional(),
  BROKER_REDIS_COMMAND_TIMEOUT_MS: integer(10, 60_000, "500"),
  BROKER_REDIS_CONNECT_TIMEOUT_MS: integer(10, 60_000, "2000"),
  BROKER_REDIS_REVOCATION_REPLICAS: z
    .string()
    .default("auto")
    .refine((text) => text === "auto" || /^(?:[0-9]|1[0-6])$/.test(text), "must be auto or an integer 0–16")
    .transform((text) => (text === "auto" ? ("auto" as const) : Number(text))),
  BROKER_REDIS_REVOCATION_WAIT_MS: z
    .string()
    .optional()
    .refine((text) => text === undefined || (/^\d{1,5}$/.test(text) && Number(text) >= 1 && Number(text) <= 60_000), "must be an integer 1–60000")
    .transform((text) => (text === undefined ? undefined : Number(text))),
  BROKER_ADMIN_SECRET: z
    .string()
    .optional()
    .transform((text) => (text === "" ? undefined : text))
    .pipe(
      z
        .string()
        .min(32, "must be at least 32 characters (e.g. openssl rand -base64 48)")
        .max(512)
        // RFC 6750 §2.1 b64token: it travels as `Authorization: Bearer <secret>`.
        .regex(B64TOKEN, "must use only the characters A-Z a-z 0-9 - . _ ~ + / (and trailing =)")
        .optional(),
    ),
  BROKER_ADMIN_SCOPE: scopeToken("broker:admin"),
  BROKER_INTROSPECTION_SCOPE: scopeToken("broker:introspect"),
  BROKER_TRUST_DOMAIN: z
    .string()
    .default(DEFAULT_TRUST_DOMAIN)
    .pipe(z.string().refine((name) => name.length <= 255 && TRUST_DOMAIN_NAME.test(name), "must be a SPIFFE trust domain name: lowercase letters, digits, '.', '-', '_'")),
  BROKER_SVID_MAX_LIFETIME: duration("BROKER_SVID_MAX_LIFETIME", "1h", 86_400),
  BROKER_CA_CERT: z.string().min(1).optional(),
  BROKER_CA_KEY: z.string().min(1).optional(),
  BROKER_CA_CHAIN: z.string().min(1).optional(),
  BROKER_CA_DIR: z.string().min(1).optional(),
  BROKER_CA_EXPIRY_WARNING: z
    .string()
    .default("30d")
    .transform((text, ctx) => {
      const seconds = parseLongDurationSeconds(text);
      if (seconds === undefined || seconds <= 0 || seconds > 3650 * 86_400) {
        ctx.addIssue({ code: "custom", message: "BROKER_CA_EXPIRY_WARNING must be a duration like 30d or 720h, at most 3650d" });
        return z.NEVER;
      }
      return seconds;
    }),
  BROKER_CRL_NEXT_UPDATE: duration("BROKER_CRL_NEXT_UPDATE", "5m", 86_400),
  BROKER_DPOP_PROOF_WINDOW: duration("BROKER_DPOP_PROOF_WINDOW", secondsText(DEFAULT_PROOF_WINDOW_SECONDS), 600),
  BROKER_DPOP_NONCE: z.enum(["off", "required"]).default("off"),
  BROKER_DPOP_NONCE_SECRET: z
    .string()
    .optional()
    .transform((text) => (text === "" ? undefined : text))
    .pipe(z.string().min(32, "must be at least 32 characters (e.g. openssl rand -base64 48)").max(512).optional()),
  BROKER_OWN_TOKEN_AUDIENCE: z.enum(["actor_token", "all", "any"]).default("actor_token"),
  BROKER_RATE_LIMIT_CLIENT: rateLimit("200/1s,burst=2000"),
  BROKER_RATE_LIMIT_WORKLOAD: rateLimit("50/1s,burst=500"),
  // An exchange is ~0.3 ms of CPU, mostly synchronous: many may wait on Redis or a JWKS fetch at once.
  BROKER_TOKEN_CONCURRENCY: integer(1, 100_000, String(32 * CPUS)),
  BROKER_TOKEN_QUEUE: integer(0, 1_000_000, "1024"),
  // An X.509-SVID is ~8 ms of signing on the libuv thread pool: more at once than CPUs only queues there.
  BROKER_SVID_CONCURRENCY: integer(1, 10_000, String(2 * CPUS)),
  BROKER_SVID_QUEUE: integer(0, 100_000, "256"),
  BROKER_INVENTORY: z.enum(["on", "off"]).default("on"),
  BROKER_INVENTORY_TTL: z
    .string()
    .default(`${DEFAULT_INVENTORY_BOUNDS.ttlSeconds / 86_400}d`)
    .transform((text, ctx) => {
      const seconds = parseLongDurationSeconds(text);
      // At least a day: the 24 h counters and `--stale` read what it keeps.
      if (seconds === undefined || seconds < 86_400 || seconds > 400 * 86_400) {
        ctx.addIssue({ code: "custom", message: "BROKER_INVENTORY_TTL must be a duration like 90d or 2160h, from 1d to 400d" });
        return z.NEVER;
      }
      return seconds;
    }),
  BROKER_INVENTORY_MAX_WORKLOADS: integer(1, 10_000_000, String(DEFAULT_INVENTORY_BOUNDS.maxWorkloads)),
  BROKER_WORKERS: workerCount(CPUS),
  ...PKCS11_ENV,
  LOG_PRETTY: flag("false"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  NODE_ENV: z.string().optional(),
});

/** Every environment variable the broker reads (deployment files are checked against it). */
export const SETTING_NAMES: readonly string[] = Object.freeze(Object.keys(envSchema.shape));

/** Thrown with every bad setting listed at once. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/** The checks that read several settings at once; throws ConfigError at the first that fails. */
function checkTogether(e: z.infer<typeof envSchema>): { redisRevocationWaitMs: number } {
  // Node refuses to start a server whose headers timeout exceeds its request timeout.
  if (e.BROKER_HEADERS_TIMEOUT > e.BROKER_REQUEST_TIMEOUT) {
    throw new ConfigError("invalid configuration:\n  BROKER_HEADERS_TIMEOUT: must not exceed BROKER_REQUEST_TIMEOUT");
  }
  if ((e.BROKER_CA_CERT === undefined) !== (e.BROKER_CA_KEY === undefined) || (e.BROKER_CA_CHAIN !== undefined && e.BROKER_CA_CERT === undefined)) {
    throw new ConfigError("invalid configuration:\n  BROKER_CA_CERT: set BROKER_CA_CERT and BROKER_CA_KEY together (BROKER_CA_CHAIN only with them)");
  }
  // Production refuses development material (src/credentials/development-material-check.ts): it may not make it either.
  if (e.NODE_ENV === "production" && e.BROKER_DEV_KEYS === "on") {
    throw new ConfigError("invalid configuration:\n  BROKER_DEV_KEYS: on is for development; NODE_ENV=production never generates or trusts development material");
  }
  // In memory, revocations, single-use claims, DPoP proof jtis, rate limits and the inventory would
  // each be one worker's own: a revocation through one worker would not hold on the next.
  if (e.BROKER_WORKERS > 1 && e.REDIS_URL === undefined) {
    throw new ConfigError(
      `invalid configuration:\n  BROKER_WORKERS: ${e.BROKER_WORKERS} workers need the shared store: set REDIS_URL (in memory, revocations, single-use claims, DPoP proof replay, rate limits and the inventory would be per worker), or BROKER_WORKERS=1`,
    );
  }
  // WAIT is itself a command: it must answer before the command timeout cuts it off.
  const redisRevocationWaitMs = e.BROKER_REDIS_REVOCATION_WAIT_MS ?? defaultWaitTimeoutMs(e.BROKER_REDIS_COMMAND_TIMEOUT_MS);
  if (redisRevocationWaitMs >= e.BROKER_REDIS_COMMAND_TIMEOUT_MS) {
    throw new ConfigError("invalid configuration:\n  BROKER_REDIS_REVOCATION_WAIT_MS: must be below BROKER_REDIS_COMMAND_TIMEOUT_MS");
  }
  return { redisRevocationWaitMs };
}

/** BROKER_SIGNING_KEYS and the token it names; throws ConfigError with every problem of the token settings. */
function keyCustody(e: z.infer<typeof envSchema>): Pick<Config, "signingKeys" | "pkcs11"> {
  const { settings, problems } = pkcs11Settings(e, resolve, e.BROKER_CA_KEY);
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n${problems.map((problem) => `  ${problem}`).join("\n")}`);
  const signingKeys: Config["signingKeys"] = settings !== undefined && e.BROKER_SIGNING_KEYS === "pkcs11" ? { custody: "pkcs11", pkcs11: settings } : { custody: "files" };
  return { signingKeys, pkcs11: settings };
}

/** The static CA's files (a `pkcs11:` key URI is kept as written), the managed folder and the expiry horizon. */
function caSettings(e: z.infer<typeof envSchema>): Pick<Config, "ca" | "caDir" | "caExpiryWarningSeconds"> {
  const { BROKER_CA_CERT: cert, BROKER_CA_KEY: key, BROKER_CA_CHAIN: chain } = e;
  return {
    ca: cert === undefined || key === undefined ? undefined : { certFile: resolve(cert), keyFile: isPkcs11Uri(key) ? key : resolve(key), chainFile: chain === undefined ? undefined : resolve(chain) },
    caDir: resolve(e.BROKER_CA_DIR ?? join(e.BROKER_KEYS_DIR, "ca")),
    caExpiryWarningSeconds: e.BROKER_CA_EXPIRY_WARNING,
  };
}

/** Reads the environment into one typed Config; lists every bad setting at once. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  ${issue.path.join(".") || "(env)"}: ${issue.message}`);
    throw new ConfigError(`invalid configuration:\n${problems.join("\n")}`);
  }
  const e = parsed.data;
  const { redisRevocationWaitMs } = checkTogether(e);
  const issuerUrl = (e.BROKER_ISSUER_URL ?? defaultBrokerUrl(e.BROKER_PORT)).replace(/\/+$/, "");
  const policyDir = resolve(e.BROKER_POLICY_DIR);
  const production = e.NODE_ENV === "production";
  return {
    host: e.BROKER_HOST,
    port: e.BROKER_PORT,
    issuerUrl,
    policyDir,
    issuersFile: resolve(e.BROKER_ISSUERS_FILE ?? `${policyDir}/issuers.yaml`),
    keysDir: resolve(e.BROKER_KEYS_DIR),
    ...keyCustody(e),
    // Never mint keys silently in production: a missing key there is an outage to fix, not to paper over.
    devKeys: e.BROKER_DEV_KEYS === "on" || (e.BROKER_DEV_KEYS === "auto" && !production),
    production,
    maxTokenLifetimeSeconds: e.BROKER_MAX_TOKEN_LIFETIME,
    maxBodyBytes: e.BROKER_MAX_BODY_BYTES,
    requestTimeoutMs: e.BROKER_REQUEST_TIMEOUT * 1000,
    headersTimeoutMs: e.BROKER_HEADERS_TIMEOUT * 1000,
    shutdownGraceMs: e.BROKER_SHUTDOWN_GRACE * 1000,
    watchPolicies: e.BROKER_WATCH_POLICIES,
    policyFixtures: e.BROKER_POLICY_FIXTURES,
    jwksRefetchCooldownMs: e.BROKER_JWKS_REFETCH_COOLDOWN * 1000,
    jwksCacheMaxAgeMs: e.BROKER_JWKS_CACHE_MAX_AGE * 1000,
    verifiedTokenCacheSeconds: e.BROKER_TOKEN_CACHE_TTL,
    verifiedTokenCacheMaxEntries: e.BROKER_TOKEN_CACHE_MAX_ENTRIES,
    redisUrl: e.REDIS_URL,
    redisCommandTimeoutMs: e.BROKER_REDIS_COMMAND_TIMEOUT_MS,
    redisConnectTimeoutMs: e.BROKER_REDIS_CONNECT_TIMEOUT_MS,
    redisRevocationReplicas: e.BROKER_REDIS_REVOCATION_REPLICAS,
    redisRevocationWaitMs,
    adminSecret: e.BROKER_ADMIN_SECRET,
    adminScope: e.BROKER_ADMIN_SCOPE,
    introspectionScope: e.BROKER_INTROSPECTION_SCOPE,
    ownTokenAudience: e.BROKER_OWN_TOKEN_AUDIENCE,
    trustDomain: e.BROKER_TRUST_DOMAIN,
    svidMaxLifetimeSeconds: e.BROKER_SVID_MAX_LIFETIME,
    ...caSettings(e),
    crlNextUpdateSeconds: e.BROKER_CRL_NEXT_UPDATE,
    dpop: { proofWindowSeconds: e.BROKER_DPOP_PROOF_WINDOW, nonce: e.BROKER_DPOP_NONCE, nonceSecret: e.BROKER_DPOP_NONCE_SECRET },
    rateLimits: { client: e.BROKER_RATE_LIMIT_CLIENT, workload: e.BROKER_RATE_LIMIT_WORKLOAD },
    concurrency: {
      token: { inFlight: e.BROKER_TOKEN_CONCURRENCY, queued: e.BROKER_TOKEN_QUEUE },
      svid: { inFlight: e.BROKER_SVID_CONCURRENCY, queued: e.BROKER_SVID_QUEUE },
    },
    inventory: e.BROKER_INVENTORY === "off" ? undefined : { ttlSeconds: e.BROKER_INVENTORY_TTL, maxWorkloads: e.BROKER_INVENTORY_MAX_WORKLOADS },
    workers: e.BROKER_WORKERS,
    logPretty: e.LOG_PRETTY,
    logLevel: e.LOG_LEVEL,
  };
}
