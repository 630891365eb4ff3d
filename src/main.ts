import { join } from "node:path";
import { serve } from "@hono/node-server";
import type { Server } from "node:http";
import type { Logger } from "pino";
import { createApp } from "./app.js";
import { createPinoAuditSink } from "./audit/pino-audit-sink.js";
import { ConfigError, loadConfig, type Config } from "./config.js";
import { createAccessTokenMinter } from "./credentials/access-token.js";
import { createBrokerTokenVerifier } from "./credentials/broker-token-verifier.js";
import { ensureDevIssuer } from "./credentials/dev-material.js";
import { FileKeyStore } from "./credentials/file-key-store.js";
import { createExchangeToken } from "./exchange/exchange-token.js";
import { createReExchange } from "./exchange/re-exchange.js";
import { MemoryRevocationStore } from "./revocation/memory-revocation-store.js";
import { checkRedisSettings, createRedisClient, whenRedisReady } from "./revocation/redis-connection.js";
import { RedisRevocationStore } from "./revocation/redis-revocation-store.js";
import type { RevocationStore } from "./revocation/revocation-store.js";
import { loadTokenVerifier } from "./identity/token-verifier.js";
import { systemClock } from "./lib/clock.js";
import { globalHttpFetch } from "./lib/http-fetch.js";
import { createLogger } from "./lib/logger.js";
import { PolicyLoadError, PolicyStore } from "./policy/index.js";

/**
 * Composition root: config → logger → keys → issuers → policies → use cases → app → listen.
 * Nothing imports this file.
 */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
  const logger = createLogger({ level: config.logLevel });
  try {
    await run(config, logger);
  } catch (error) {
    // Start-up problems are the operator's to fix: say what, without a stack for known kinds.
    const known = error instanceof ConfigError || error instanceof PolicyLoadError || error instanceof StartupError;
    logger.fatal(known ? { reason: (error as Error).message } : { err: error }, "broker failed to start");
    process.exit(1);
  }
}

class StartupError extends Error {}

async function run(config: Config, logger: Logger): Promise<void> {
  const keys = await openKeyStore(config, logger);
  const verifier = await loadTokenVerifier(config.issuersFile, {
    brokerIssuer: config.issuerUrl,
    clock: systemClock,
    fetch: globalHttpFetch,
    log: logger.child({ component: "identity" }),
    remoteJwks: { cooldownMs: config.jwksRefetchCooldownMs, cacheMaxAgeMs: config.jwksCacheMaxAgeMs },
  });
  const policies = await PolicyStore.open({
    dir: config.policyDir,
    knownIssuers: verifier.issuerIds(),
    log: logger.child({ component: "policy" }),
  });
  if (config.watchPolicies) policies.watch();
  process.on("SIGHUP", () => void policies.reload());

  const revocations = await openRevocationStore(config, logger);
  const minter = createAccessTokenMinter({ issuer: config.issuerUrl, keys, clock: systemClock });
  const brokerTokens = createBrokerTokenVerifier({ issuer: config.issuerUrl, keys, clock: systemClock });
  const audit = createPinoAuditSink(logger);
  const exchangeToken = createExchangeToken({
    verifier,
    revocations,
    reExchange: createReExchange({ brokerTokens, minter, revocations, clock: systemClock, issuer: config.issuerUrl, maxLifetimeSeconds: config.maxTokenLifetimeSeconds }),
    policies: () => policies.current(),
    minter,
    audit,
    clock: systemClock,
    maxLifetimeSeconds: config.maxTokenLifetimeSeconds,
  });
  // Say whether the bootstrap secret opens /admin/, never what it is.
  logger.info({ bootstrapSecret: config.adminSecret !== undefined, adminScope: config.adminScope }, "admin API: admin-scoped broker tokens accepted");
  const app = createApp({
    issuerUrl: config.issuerUrl,
    maxBodyBytes: config.maxBodyBytes,
    keys,
    exchangeToken,
    log: logger,
    revocations,
    brokerTokens,
    audit,
    clock: systemClock,
    maxTokenLifetimeSeconds: config.maxTokenLifetimeSeconds,
    adminSecret: config.adminSecret,
    adminScope: config.adminScope,
    introspectionScope: config.introspectionScope,
    readiness: [
      { name: "signing_keys", check: () => ({ ok: keys.publishedKeys().length > 0 }) },
      { name: "policies", check: () => ({ ok: true, detail: `version ${policies.current().version}` }) },
      {
        name: "revocation_store",
        check: () =>
          revocations.ping().then(
            () => ({ ok: true, detail: revocations.kind }),
            () => ({ ok: false, detail: `${revocations.kind} unreachable` }),
          ),
      },
    ],
  });

  const server = serve({
    fetch: app.fetch,
    hostname: config.host,
    port: config.port,
    serverOptions: { requestTimeout: config.requestTimeoutMs, headersTimeout: config.headersTimeoutMs, maxHeaderSize: 16 * 1024 },
  }) as Server;
  server.keepAliveTimeout = 5_000;
  server.on("listening", () => {
    logger.info({ host: config.host, port: config.port, issuer: config.issuerUrl, policies: policies.current().policyIds.length }, "listening");
  });
  void verifier.warmUp();

  const shutdown = (signal: string) => {
    logger.info({ signal }, "shutting down: no new connections, finishing in-flight requests");
    policies.close();
    const force = setTimeout(() => {
      logger.warn({ graceMs: config.shutdownGraceMs }, "shutdown grace period over: closing remaining connections");
      server.closeAllConnections();
    }, config.shutdownGraceMs);
    force.unref();
    server.close(async () => {
      await revocations.close().catch(() => undefined);
      logger.info({}, "stopped");
      logger.flush();
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
}

/**
 * The revocation store: Redis when REDIS_URL is set (shared by every replica), else this
 * process's memory (development, one replica).
 */
async function openRevocationStore(config: Config, logger: Logger): Promise<RevocationStore> {
  if (config.redisUrl === undefined) {
    logger.warn({}, "REDIS_URL is not set: revocations live in this process only; run several replicas only with Redis");
    return new MemoryRevocationStore(systemClock);
  }
  const redisLog = logger.child({ component: "redis" });
  let client: ReturnType<typeof createRedisClient>;
  try {
    client = createRedisClient(config.redisUrl, {
      commandTimeoutMs: config.redisCommandTimeoutMs,
      connectTimeoutMs: config.redisConnectTimeoutMs,
      log: redisLog,
    });
  } catch (error) {
    throw new StartupError(`REDIS_URL: ${error instanceof Error ? error.message : String(error)}`);
  }
  // Start even when Redis is down: requests fail closed (503) and /readyz says why until it is back.
  whenRedisReady(client, config.redisConnectTimeoutMs).then(
    () => checkRedisSettings(client, redisLog),
    (error: unknown) => redisLog.warn({ reason: error instanceof Error ? error.message : String(error) }, "Redis not reachable yet: exchanges answer 503 until it is"),
  );
  return new RedisRevocationStore(client, systemClock, { log: redisLog });
}

/** Loads keys/signing; on a first start in development, generates keys and says so loudly. */
async function openKeyStore(config: Config, logger: Logger): Promise<FileKeyStore> {
  const signingDir = join(config.keysDir, "signing");
  if (config.devKeys) {
    if (await ensureDevIssuer(config.keysDir)) {
      logger.warn({ dir: join(config.keysDir, "dev-issuer") }, "DEVELOPMENT ISSUER KEY GENERATED: the local-dev issuer is for trying the broker out; remove it from issuers.yaml in production");
    }
  }
  if (await FileKeyStore.exists(signingDir)) return FileKeyStore.load(signingDir);
  if (!config.devKeys) {
    throw new StartupError(`no signing keys in ${signingDir} (keyset.json); see keys/README.md, or set BROKER_DEV_KEYS=on for development`);
  }
  const store = await FileKeyStore.generate(signingDir);
  logger.warn(
    { dir: signingDir, kid: store.activeKey().kid },
    "DEVELOPMENT SIGNING KEY GENERATED: not for production. Tokens signed with it are trusted only by verifiers that fetch this broker's JWKS.",
  );
  return store;
}

void main();
