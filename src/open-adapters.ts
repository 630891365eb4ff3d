/**
 * Opens what the broker runs on, from the config: the signing keys, the trusted issuers'
 * verifier, the policies, the revocation store and rate limiter (Redis or memory), the X.509-SVID
 * CA. main.ts opens them this way, and so do the in-process test brokers, so a test runs on the
 * very adapters a process would. A problem the operator must fix is a StartupError.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Cluster, Redis } from "ioredis";
import type { Logger } from "pino";
import { narrowWithin } from "./authorization/attenuate.js";
import { createPinoAuditSink } from "./audit/pino-audit-sink.js";
import { buildBroker, type Broker, type BrokerPorts } from "./build-broker.js";
import type { Config } from "./config.js";
import { ensureDevCaLogged, ensureDevIssuerLogged, generateDevSigningKeys, StartupError, withDevelopmentAdminSecret } from "./development-start.js";
import { FileKeyStore } from "./credentials/file-key-store.js";
import { tokenKeyCustody } from "./pkcs11/token-key-custody.js";
import { warnOfCaExpiry } from "./credentials/x509/ca-expiry.js";
import { CA_SET_FILE } from "./credentials/x509/ca-set-document.js";
import { fixedCaSource, singleCaSet, type CaSet, type CaSource, type TokenCaKeyResolver } from "./credentials/x509/ca-set.js";
import { CaSetStore } from "./credentials/x509/ca-set-store.js";
import { devCaExists, loadCertificateAuthority, loadDevCa } from "./credentials/x509/ca-store.js";
import { loadTokenVerifier, type TokenVerifier } from "./identity/token-verifier.js";
import { systemClock } from "./lib/clock.js";
import { globalHttpFetch } from "./lib/http-fetch.js";
import { BrokerMetrics } from "./metrics/broker-metrics.js";
import { countingFetch } from "./metrics/instrument.js";
import { packageVersion } from "./lib/package-version.js";
import { countPolicyReloads } from "./metrics/policy-reloads.js";
import { PolicyStore } from "./policy/index.js";
import { MemoryRateLimiter } from "./rate-limit/memory-rate-limiter.js";
import { isPkcs11Uri } from "./protocol/pkcs11-uri.js";
import { sharedToken, type SharedToken, type TokenOpenerOption } from "./open-token.js";
import type { TokenClient } from "./pkcs11/token-client.js";
import { openRedisRevocationStore } from "./redis/open-redis-store.js";
import { RedisRateLimiter } from "./redis/redis-rate-limiter.js";
import type { ReadIssuanceState } from "./revocation/issuance-state.js";
import { RedisInventoryStore } from "./redis/redis-inventory-store.js";
import { MemoryInventoryStore } from "./inventory/memory-inventory-store.js";
import type { InventoryStore } from "./inventory/inventory-store.js";
import { MemoryRevocationStore } from "./revocation/memory-revocation-store.js";
import type { RevocationStore } from "./revocation/revocation-store.js";

export { refuseDevelopmentMaterial, StartupError } from "./development-start.js";

/**
 * How the adapters are opened, when not as configured: the token opener (a test wraps the token
 * worker); the metrics (a cluster worker's, whose scrape is the whole group's).
 */
export interface OpenOptions {
  readonly openToken?: TokenOpenerOption;
  readonly metrics?: BrokerMetrics;
}

/** A broker built on its opened adapters, with the trust material the caller watches and closes. */
export interface OpenedBroker {
  readonly broker: Broker;
  readonly keys: FileKeyStore;
  readonly verifier: TokenVerifier;
  readonly policies: PolicyStore;
  /** The X.509-SVID CAs (a managed folder follows its files; SIGHUP reloads it); undefined without a CA. */
  readonly ca: CaSource | undefined;
}

/**
 * Opens every adapter from the config and builds the broker on them: the one way a broker comes
 * to be, for main.ts and the in-process test brokers alike. On a failure part-way, what was
 * already opened (file watchers) is closed before the error goes on.
 */
export async function openBroker(config: Config, logger: Logger, options: Pick<BrokerPorts, "isDraining"> & OpenOptions = {}): Promise<OpenedBroker> {
  const { openToken: tokenOpener, metrics = new BrokerMetrics({ version: packageVersion() }), ...ports } = options;
  const token = sharedToken(config.pkcs11, logger, metrics, tokenOpener);
  let trust: Awaited<ReturnType<typeof openTrustMaterial>>;
  try {
    trust = await openTrustMaterial(config, logger, metrics, token);
  } catch (error) {
    await token.close();
    throw error;
  }
  const { keys, verifier, policies } = trust;
  let stores: Awaited<ReturnType<typeof openStores>> | undefined;
  try {
    stores = await openStores(config, logger, token);
    const audit = createPinoAuditSink(logger);
    const broker = buildBroker(await withDevelopmentAdminSecret(config, logger), {
      keys,
      verifier,
      policies,
      ...stores,
      clock: systemClock,
      log: logger,
      audit,
      requestAudits: audit,
      metrics,
      ...ports,
    });
    return { broker, keys, verifier, policies, ca: stores.ca };
  } catch (error) {
    keys.close();
    policies.close();
    stores?.ca?.close?.();
    await token.close();
    throw error;
  }
}

/** The signing keys, the trusted issuers' verifier and the policies, each following its files. */
export async function openTrustMaterial(
  config: Config,
  logger: Logger,
  metrics: BrokerMetrics,
  token: SharedToken = sharedToken(config.pkcs11, logger, metrics),
): Promise<{ keys: FileKeyStore; verifier: TokenVerifier; policies: PolicyStore }> {
  const keys = await openKeyStore(config, logger, token);
  const verifier = await loadTokenVerifier(config.issuersFile, {
    brokerIssuer: config.issuerUrl,
    clock: systemClock,
    fetch: countingFetch(globalHttpFetch, metrics),
    log: logger.child({ component: "identity" }),
    remoteJwks: { cooldownMs: config.jwksRefetchCooldownMs, cacheMaxAgeMs: config.jwksCacheMaxAgeMs },
    verifiedTokenCache: { ttlSeconds: config.verifiedTokenCacheSeconds, maxEntries: config.verifiedTokenCacheMaxEntries },
    onCacheLookup: (hit) => metrics.verifiedTokenCache.inc({ result: hit ? "hit" : "miss" }),
    onCacheAdmission: () => metrics.verifiedTokenCacheAdmissions.inc(),
    onIssuerKeyRefused: (issuer) => metrics.issuerKeysRefused.inc({ issuer }),
    allowLoopbackHttpJwksUri: !config.production,
  });
  const policies = await openPolicies(config, verifier, logger);
  countPolicyReloads(policies, metrics, systemClock);
  if (config.watchPolicies) policies.watch();
  // Every replica follows a key rotation by itself: file events plus a periodic check (keys/README.md).
  keys.watch();
  return { keys, verifier, policies };
}

/**
 * The policy store over BROKER_POLICY_DIR, gated by its fixtures unless BROKER_POLICY_FIXTURES=off.
 * The gate narrows with the kernel's attenuation and no lifetime cap, exactly as
 * `broker policy test` does, so a set that passes in CI passes here.
 */
async function openPolicies(config: Config, verifier: TokenVerifier, logger: Logger): Promise<PolicyStore> {
  const log = logger.child({ component: "policy" });
  const gated = config.policyFixtures === "required";
  if (!gated) log.warn({ dir: config.policyDir }, "BROKER_POLICY_FIXTURES=off: policy sets are put in force without running their fixtures");
  return PolicyStore.open({
    dir: config.policyDir,
    knownIssuers: verifier.issuers(),
    trustDomain: config.trustDomain,
    log,
    ...(gated ? { fixtures: { narrow: narrowWithin(Number.POSITIVE_INFINITY) } } : {}),
  });
}

/** Revocation state, the rate limiter, the workload inventory and the X.509-SVID CA. */
export async function openStores(
  config: Config,
  logger: Logger,
  token: SharedToken,
): Promise<Pick<BrokerPorts, "revocations" | "limiter" | "issuanceState" | "ca" | "inventory">> {
  const opened = await openRevocationStore(config, logger);
  // Rate limits share the revocation store's Redis client (and its fail-closed settings).
  const limiter = opened.redis ? new RedisRateLimiter(opened.redis, systemClock) : new MemoryRateLimiter(systemClock);
  const { client: clientLimit, workload: workloadLimit } = config.rateLimits;
  logger.info(
    { limiter: limiter.kind, client: clientLimit?.text ?? "off", workload: workloadLimit?.text ?? "off", concurrency: config.concurrency },
    "rate limits and work bounds",
  );
  const inventory = openInventory(config, opened.redis);
  logger.info({ inventory: inventory?.kind ?? "off", ...(config.inventory ?? {}) }, "workload inventory");
  return {
    revocations: opened.store,
    limiter,
    ...(opened.issuanceState ? { issuanceState: opened.issuanceState } : {}),
    ca: await openCertificateAuthority(config, logger, token.caKey),
    ...(inventory ? { inventory } : {}),
  };
}

/** The workload inventory on the store's Redis client (or in memory without one); undefined when BROKER_INVENTORY=off. */
function openInventory(config: Config, redis: Redis | Cluster | undefined): InventoryStore | undefined {
  if (config.inventory === undefined) return undefined;
  return redis ? new RedisInventoryStore(redis, systemClock, config.inventory) : new MemoryInventoryStore(systemClock, config.inventory);
}

/**
 * The revocation store: Redis when REDIS_URL is set (shared by every replica), else this
 * process's memory (development, one replica). The Redis client is returned too, for the rate
 * limiter; the store owns it and closes it.
 */
async function openRevocationStore(
  config: Config,
  logger: Logger,
): Promise<{ store: RevocationStore; redis: Redis | Cluster | undefined; issuanceState?: ReadIssuanceState | undefined }> {
  if (config.redisUrl === undefined) {
    logger.warn({}, "REDIS_URL is not set: revocations and rate limits live in this process only; run several replicas only with Redis");
    return { store: new MemoryRevocationStore(systemClock), redis: undefined };
  }
  const settings = {
    url: config.redisUrl,
    commandTimeoutMs: config.redisCommandTimeoutMs,
    connectTimeoutMs: config.redisConnectTimeoutMs,
    revocationReplicas: config.redisRevocationReplicas,
    revocationWaitMs: config.redisRevocationWaitMs,
  };
  try {
    const { store, client, issuanceState } = openRedisRevocationStore(settings, systemClock, logger.child({ component: "redis" }));
    return { store, redis: client, issuanceState };
  } catch (error) {
    throw new StartupError(`REDIS_URL: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Loads keys/signing; on a first start in development, generates keys and says so loudly. */
async function openKeyStore(config: Config, logger: Logger, token: SharedToken): Promise<FileKeyStore> {
  const signingDir = join(config.keysDir, "signing");
  if (config.devKeys) await ensureDevIssuerLogged(config, logger);
  const log = logger.child({ component: "keys" });
  if (config.signingKeys.custody === "pkcs11") return openTokenKeyStore(signingDir, log, token);
  if (await FileKeyStore.exists(signingDir)) return FileKeyStore.load(signingDir, { log });
  if (!config.devKeys) {
    throw new StartupError(`no signing keys in ${signingDir} (keyset.json); see keys/README.md, or set BROKER_DEV_KEYS=on for development`);
  }
  await generateDevSigningKeys(signingDir, logger);
  return FileKeyStore.load(signingDir, { log });
}

/**
 * The keyset's keys inside a PKCS#11 token (BROKER_SIGNING_KEYS=pkcs11): never generated at start,
 * development or not (`broker keys init --custody pkcs11` makes them). Every problem is reported
 * at once: the module, the token and the login, then each key the keyset names that the token lacks.
 */
async function openTokenKeyStore(signingDir: string, log: Logger, token: SharedToken): Promise<FileKeyStore> {
  if (!(await FileKeyStore.exists(signingDir))) {
    throw new StartupError(`no signing keys in ${signingDir} (keyset.json): with BROKER_SIGNING_KEYS=pkcs11, create them inside the token with broker keys init --custody pkcs11`);
  }
  let client: TokenClient;
  try {
    client = await token.client();
  } catch (error) {
    throw new StartupError(`BROKER_SIGNING_KEYS=pkcs11: ${error instanceof Error ? error.message : String(error)}`);
  }
  try {
    const store = await FileKeyStore.load(signingDir, { log, custody: tokenKeyCustody(client), release: () => token.close() });
    log.info({ tokenLabel: client.session.tokenLabel, slot: client.session.slotId, activeKid: store.activeKey().kid }, "signing keys in the PKCS#11 token");
    return store;
  } catch (error) {
    await token.close();
    throw new StartupError(`BROKER_SIGNING_KEYS=pkcs11: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * The X.509-SVID CAs, in this order: the static CA (BROKER_CA_CERT/KEY/CHAIN; no rotation), else
 * the managed CA folder (BROKER_CA_DIR/ca-set.json, followed like the signing keys), else
 * keys/ca/ca.pem (the development root, generated on first start when dev keys are allowed).
 * Undefined (SVID routes answer 404) when there is none. A CA that fails its checks stops the
 * start; both a static CA and a managed folder is refused as ambiguous.
 */
async function openCertificateAuthority(config: Config, logger: Logger, tokenKey: TokenCaKeyResolver): Promise<CaSource | undefined> {
  const now = new Date(systemClock.now());
  const log = logger.child({ component: "ca" });
  const checkExpiry = (set: CaSet) => warnOfCaExpiry(set, systemClock, config.caExpiryWarningSeconds, log);
  try {
    const managed = await CaSetStore.exists(config.caDir);
    if (config.ca !== undefined) {
      if (managed) throw new Error(`BROKER_CA_CERT and the managed CA folder ${join(config.caDir, CA_SET_FILE)} are both configured: after broker ca init, unset BROKER_CA_CERT, BROKER_CA_KEY and BROKER_CA_CHAIN`);
      const { keyFile } = config.ca;
      const ca = await loadCertificateAuthority({
        certificatePem: await readFile(config.ca.certFile, "utf8"),
        // An RFC 7512 URI names a key in the token: the private half never comes here.
        ...(isPkcs11Uri(keyFile) ? { key: await tokenKey(keyFile) } : { keyPem: await readFile(keyFile, "utf8") }),
        chainPem: config.ca.chainFile === undefined ? undefined : await readFile(config.ca.chainFile, "utf8"),
        trustDomain: config.trustDomain,
        now,
      });
      log.info({ trustDomain: config.trustDomain, subject: ca.certificate.subject, notAfter: ca.notAfter, keyCustody: ca.key.custody }, "X.509-SVID CA loaded");
      return fixedCaSource(withExpiryCheck(singleCaSet(ca), checkExpiry));
    }
    if (managed) {
      const store = await CaSetStore.load(config.caDir, { trustDomain: config.trustDomain, clock: systemClock, log, onChange: checkExpiry, tokenKey });
      const set = store.current();
      log.info({ dir: config.caDir, activeCa: set.active.name, publishedCas: set.published.map((each) => each.name), revision: set.revision }, "X.509-SVID CA set loaded");
      // Every replica follows a CA rotation by itself, as it follows the signing keys.
      store.watch();
      return store;
    }
    if (!(await devCaExists(config.keysDir))) {
      if (!config.devKeys) {
        log.warn({}, "no CA configured (BROKER_CA_CERT, BROKER_CA_KEY, or broker ca init): X.509-SVIDs, the SPIFFE bundle and the CRL are disabled");
        return undefined;
      }
      await ensureDevCaLogged(config, logger);
    }
    return fixedCaSource(withExpiryCheck(singleCaSet(await loadDevCa(config.keysDir, config.trustDomain, now)), checkExpiry));
  } catch (error) {
    throw new StartupError(`X.509-SVID CA: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function withExpiryCheck(set: CaSet, check: (set: CaSet) => void): CaSet {
  check(set);
  return set;
}
