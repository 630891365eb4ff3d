/**
 * The development material a development start generates on first start (the local issuer's key,
 * signing keys, a root CA, the admin secret), and production's refusal of all of it. A single
 * process generates each piece when it first needs it; the primary of several workers generates
 * them all before it forks (prepareDevelopmentMaterial), so workers never race to create them
 * and each only finds and loads them.
 */
import { join } from "node:path";
import type { Logger } from "pino";
import type { Config } from "./config.js";
import { devAdminSecretPath, ensureDevAdminSecret, ensureDevIssuer } from "./credentials/dev-material.js";
import { findDevelopmentMaterial } from "./credentials/development-material-check.js";
import { FileKeyStore } from "./credentials/file-key-store.js";
import { initSigningKeys } from "./credentials/key-rotation.js";
import { CaSetStore } from "./credentials/x509/ca-set-store.js";
import { devCaExists, ensureDevCa } from "./credentials/x509/ca-store.js";
import { systemClock } from "./lib/clock.js";

/** A start-up problem the operator must fix: logged as its message, without a stack. */
export class StartupError extends Error {}

/**
 * NODE_ENV=production trusts nothing made for development, even on a folder that once ran in
 * development: one fatal line per piece found, then the start is refused (exit 1).
 */
export async function refuseDevelopmentMaterial(config: Config, logger: Logger): Promise<void> {
  const problems = await findDevelopmentMaterial({ keysDir: config.keysDir, issuersFile: config.issuersFile, caCertFile: config.ca?.certFile, caDir: config.caDir });
  for (const problem of problems) logger.fatal({ problem }, "development material refused in production");
  if (problems.length > 0) throw new StartupError(`NODE_ENV=production: ${problems.length} piece(s) of development material found (listed above); refusing to start`);
}

/** Everything a development start would generate on first start, generated now (the primary, before its workers). */
export async function prepareDevelopmentMaterial(config: Config, logger: Logger): Promise<void> {
  if (!config.devKeys) return;
  await ensureDevIssuerLogged(config, logger);
  const signingDir = join(config.keysDir, "signing");
  if (config.signingKeys.custody === "files" && !(await FileKeyStore.exists(signingDir))) await generateDevSigningKeys(signingDir, logger);
  if (config.ca === undefined && !(await CaSetStore.exists(config.caDir))) await ensureDevCaLogged(config, logger);
  await withDevelopmentAdminSecret(config, logger);
}

/** The local development issuer's key (keys/dev-issuer), generated when absent. */
export async function ensureDevIssuerLogged(config: Config, logger: Logger): Promise<void> {
  if (await ensureDevIssuer(config.keysDir)) {
    logger.warn({ dir: join(config.keysDir, "dev-issuer") }, "DEVELOPMENT ISSUER KEY GENERATED: the local-dev issuer is for trying the broker out; remove it from issuers.yaml in production");
  }
}

/** Development signing keys in keys/signing (only where none exist), said loudly. */
export async function generateDevSigningKeys(signingDir: string, logger: Logger): Promise<void> {
  const { kid } = await initSigningKeys(signingDir, { clock: systemClock, development: true });
  logger.warn(
    { dir: signingDir, kid },
    "DEVELOPMENT SIGNING KEY GENERATED: not for production. Tokens signed with it are trusted only by verifiers that fetch this broker's JWKS.",
  );
}

/** The development root CA in keys/ca, generated when absent. */
export async function ensureDevCaLogged(config: Config, logger: Logger): Promise<void> {
  if (await devCaExists(config.keysDir)) return;
  await ensureDevCa(config.keysDir, config.trustDomain, new Date(systemClock.now()));
  logger.child({ component: "ca" }).warn(
    { dir: join(config.keysDir, "ca"), trustDomain: config.trustDomain },
    "DEVELOPMENT ROOT CA GENERATED: not for production. Configure your CA with broker ca init (or BROKER_CA_CERT, BROKER_CA_KEY and BROKER_CA_CHAIN).",
  );
}

/**
 * A development start without BROKER_ADMIN_SECRET gets one in keys/dev-admin-secret (generated on
 * first start), and says how to use it, so the quick start's admin commands work as written. The
 * secret itself is never logged. Production (and BROKER_DEV_KEYS=off) is left as configured.
 */
export async function withDevelopmentAdminSecret(config: Config, logger: Logger): Promise<Config> {
  if (!config.devKeys || config.adminSecret !== undefined) return config;
  const file = devAdminSecretPath(config.keysDir);
  const { secret, created } = await ensureDevAdminSecret(config.keysDir);
  const howTo = `export BROKER_ADMIN_TOKEN="$(cat ${file})"`;
  if (created) logger.warn({ file, howTo }, "DEVELOPMENT ADMIN SECRET GENERATED: the admin API (broker revoke, revocations list, unblock) takes it as BROKER_ADMIN_TOKEN; set BROKER_ADMIN_SECRET in production");
  else logger.info({ file, howTo }, "admin API: development admin secret in use");
  return { ...config, adminSecret: secret };
}
