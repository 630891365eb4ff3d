import { access } from "node:fs/promises";
import { join, resolve } from "node:path";
import { createRootCa } from "../credentials/x509/ca-store.js";
import { InvalidArgumentError, type Command } from "commander";
import {
  activateNextKey,
  initSigningKeys,
  listKeys,
  prepareNextKey,
  retireKey,
  RSA_KEY_BITS,
  type KeyGeneration,
  type KeyListing,
  type RotationOptions,
  type RotationResult,
} from "../credentials/key-rotation.js";
import { systemClock } from "../lib/clock.js";
import { ageOf, formatTable } from "./age-table.js";
import { parseDurationSeconds } from "../lib/durations.js";
import { DEFAULT_KEYS_DIR, TOKEN_LIFETIME_CEILING_SECONDS } from "../protocol/broker-defaults.js";
import { BROKER_SIGNING_ALGORITHMS, isBrokerSigningAlgorithm, type BrokerSigningAlgorithm } from "../protocol/broker-tokens.js";
import type { KeyCustody } from "../credentials/key-custody.js";
import { custodyOption, withCustody, type CustodyKind } from "./keys-custody.js";

const lifetime = (text: string): number => {
  const seconds = parseDurationSeconds(text);
  if (seconds === undefined || seconds <= 0 || seconds > TOKEN_LIFETIME_CEILING_SECONDS) throw new InvalidArgumentError("a duration like 90s, 15m or 1h, at most 1h");
  return seconds;
};

const signingAlgorithm = (text: string): BrokerSigningAlgorithm => {
  if (!isBrokerSigningAlgorithm(text)) throw new InvalidArgumentError(`one of ${BROKER_SIGNING_ALGORITHMS.join(", ")}`);
  return text;
};

const rsaBits = (text: string): number => {
  const bits = Number(text);
  if (!(RSA_KEY_BITS as readonly number[]).includes(bits)) throw new InvalidArgumentError(`one of ${RSA_KEY_BITS.join(", ")}`);
  return bits;
};

// The new key's algorithm: ES256 unless a relying party needs RSA (docs/security.md, "The broker's own signing algorithms").
const algOption = ["--alg <alg>", `the new signing key's algorithm: ${BROKER_SIGNING_ALGORITHMS.join(", ")} (default ES256)`, signingAlgorithm] as const;
const rsaBitsOption = ["--rsa-bits <bits>", `RSA modulus size for RS256 and PS256: ${RSA_KEY_BITS.join(", ")} (default 2048)`, rsaBits] as const;

/**
 * `broker keys init | rotate --prepare | --activate | --retire <name> | list`: signing key
 * management on the keys folder every replica mounts. Each step is one atomic keyset.json
 * rewrite that running replicas pick up within seconds (docs/operations.md, "Rotating keys").
 */
export function addKeysCommands(program: Command): void {
  const keys = program.command("keys").description("manage the broker's signing keys (keys/signing)");
  const dirOption = ["--dir <dir>", "keys folder (its signing/ subfolder holds the keyset)", process.env.BROKER_KEYS_DIR ?? DEFAULT_KEYS_DIR] as const;
  const signingDir = (dir: string) => join(resolve(dir), "signing");

  keys
    .command("init")
    .description("create the production signing key (files mode 0600) and, with --ca, an X.509-SVID root CA; refuses to overwrite")
    .option(...dirOption)
    .option("--ca", "also create a self-signed root CA for the trust domain in <dir>/ca-root/ (prefer an intermediate from your own PKI)")
    .option("--trust-domain <name>", "SPIFFE trust domain of the CA", process.env.BROKER_TRUST_DOMAIN)
    .option("--ca-days <days>", "validity of the root CA in days", (text: string) => Number(text), 1825)
    .option("--if-missing", "create only what is missing and succeed when everything exists (an init container's mode); never overwrites")
    .option(...algOption)
    .option(...rsaBitsOption)
    .option(...custodyOption)
    .action((options: InitOptions) => run(() => initKeys(options)));

  keys
    .command("rotate")
    .description("one rotation step: --prepare (publish the next key), --activate (it signs), --retire <name> (drop a previous key)")
    .option(...dirOption)
    .option("--prepare", "generate the next key and publish it in the JWKS without signing with it")
    .option("--activate", "make the prepared key sign; the previous active key stays published")
    .option("--retire <name>", "remove a previous key from the JWKS once its last token has expired")
    .option("--max-token-lifetime <duration>", "the brokers' BROKER_MAX_TOKEN_LIFETIME (default: that variable, else its 1h ceiling)", lifetime)
    .option("--force", "override a refused safety check (prints what it overrode)")
    .option(...algOption)
    .option(...rsaBitsOption)
    .option(...custodyOption)
    .action((options: RotateOptions) =>
      run(async () => {
        const steps = [options.prepare, options.activate, options.retire].filter((step) => step !== undefined);
        if (steps.length !== 1) throw new Error("give exactly one of --prepare, --activate, --retire <name>");
        if (!options.prepare && (options.alg !== undefined || options.rsaBits !== undefined)) throw new Error("--alg and --rsa-bits choose the key --prepare generates");
        const dir = signingDir(options.dir);
        // --activate touches no key: only keyset.json changes.
        if (options.activate) return report("activated (signing; the previous key stays published)", await activateNextKey(dir, { clock: systemClock, force: options.force === true }));
        return withCustody(options.custody, (custody) => rotateStep(dir, options, { clock: systemClock, force: options.force === true, ...(custody ? { custody } : {}) }));
      }),
    );

  keys
    .command("list")
    .description("list the keys: name, kid, algorithm, state and ages (with --custody pkcs11, read from the token, and the token's keys keyset.json does not name as unlisted)")
    .option(...dirOption)
    .option("--json", "print JSON")
    .option(...custodyOption)
    .action((options: { dir: string; json?: boolean; custody: CustodyKind }) =>
      run(async () => {
        const listing = await withCustody(options.custody, (custody) => listWithUnlisted(signingDir(options.dir), custody));
        process.stdout.write(options.json ? `${JSON.stringify(listing, null, 2)}\n` : formatListing(listing, Date.now()));
      }),
    );
}

/** A key in the custody that keyset.json does not name: a token's other keys, or a crashed create's leftover. */
type ListedKey = Omit<KeyListing, "state"> & { readonly state: KeyListing["state"] | "unlisted" };

/** `keys list`: the keyset's keys, then (token custody) the token's keys the keyset does not name. */
async function listWithUnlisted(dir: string, custody: KeyCustody | undefined): Promise<ListedKey[]> {
  const listing: ListedKey[] = await listKeys(dir, ...(custody ? [custody] : []));
  const named = new Set(listing.map((key) => key.name));
  for (const key of (await custody?.list?.()) ?? []) {
    if (!named.has(key.name)) listing.push({ name: key.name, kid: key.kid, alg: "?", state: "unlisted", createdAt: undefined, activatedAt: undefined, deactivatedAt: undefined });
  }
  return listing;
}

/** `rotate --prepare` (a new key, in the custody) or `--retire <name>` (its file or token object destroyed). */
async function rotateStep(dir: string, options: RotateOptions, common: RotationOptions): Promise<void> {
  if (options.prepare) return report("prepared (published, not signing yet)", await prepareNextKey(dir, { ...common, ...generation(options) }));
  const maxTokenLifetimeSeconds = options.maxTokenLifetime ?? lifetime(process.env.BROKER_MAX_TOKEN_LIFETIME ?? `${TOKEN_LIFETIME_CEILING_SECONDS}s`);
  return report("retired (no longer published)", await retireKey(dir, options.retire ?? "", { ...common, maxTokenLifetimeSeconds }));
}

/** Only the options given, so that an absent one keeps its default. */
const generation = ({ alg, rsaBits }: KeyGeneration): KeyGeneration => ({ ...(alg === undefined ? {} : { alg }), ...(rsaBits === undefined ? {} : { rsaBits }) });

interface RotateOptions extends KeyGeneration {
  readonly dir: string;
  readonly prepare?: boolean;
  readonly activate?: boolean;
  readonly retire?: string;
  readonly maxTokenLifetime?: number;
  readonly force?: boolean;
  readonly custody: CustodyKind;
}

interface InitOptions extends KeyGeneration {
  readonly dir: string;
  readonly ca?: boolean;
  readonly trustDomain?: string;
  readonly caDays: number;
  readonly ifMissing?: boolean;
  readonly custody: CustodyKind;
}

/**
 * `keys init`: the signing keyset, then (with --ca) the root CA. With --if-missing, what already
 * exists is kept and said so, so an init container can run it on every start; half a CA (a key
 * without its certificate, or the reverse) is refused rather than completed, since completing it
 * would overwrite the half that exists.
 */
async function initKeys(options: InitOptions): Promise<void> {
  if (options.ca && !options.trustDomain) throw new Error("--ca needs --trust-domain (or BROKER_TRUST_DOMAIN)");
  if (options.ca && (!Number.isSafeInteger(options.caDays) || options.caDays < 1 || options.caDays > 3650)) {
    throw new Error("--ca-days must be a whole number of days from 1 to 3650");
  }
  const signing = join(resolve(options.dir), "signing");
  if (options.ifMissing && (await present(join(signing, "keyset.json")))) process.stdout.write(`signing keys exist, kept: ${signing}\n`);
  else report("created active key", await withCustody(options.custody, (custody) => initSigningKeys(signing, { clock: systemClock, ...generation(options), ...(custody ? { custody } : {}) })));
  if (!options.ca || !options.trustDomain) return;
  const dir = join(resolve(options.dir), "ca-root");
  const paths = { dir, certificate: join(dir, "ca.pem"), key: join(dir, "ca.key") };
  const [certificate, key] = [await present(paths.certificate), await present(paths.key)];
  if (options.ifMissing && certificate && key) {
    process.stdout.write(`root CA exists, kept: ${paths.certificate}\n`);
  } else {
    if (options.ifMissing && (certificate || key)) throw new Error(`${dir} holds ${certificate ? "ca.pem without ca.key" : "ca.key without ca.pem"}: refusing to replace it; restore or remove it`);
    await createRootCa(paths, options.trustDomain, new Date(systemClock.now()), { commonName: "credential broker root CA", days: options.caDays });
    process.stdout.write(`created root CA for ${options.trustDomain}: ${paths.certificate} (key ${paths.key}, mode 0600)\n`);
  }
  process.stdout.write(`set BROKER_CA_CERT=${paths.certificate} BROKER_CA_KEY=${paths.key} BROKER_TRUST_DOMAIN=${options.trustDomain}\n`);
}

async function present(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function run(step: () => Promise<void>): Promise<void> {
  try {
    await step();
  } catch (error) {
    process.stderr.write(`broker keys: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}

function report(what: string, result: RotationResult): void {
  for (const warning of result.warnings) process.stderr.write(`WARNING: ${warning}\n`);
  process.stdout.write(`${what}: ${result.name} (kid ${result.kid}${result.alg === undefined ? "" : `, alg ${result.alg}`})\n`);
}

/** A fixed-width table; ages in whole units ("3d", "5h", "12m", "40s"). */
function formatListing(listing: readonly ListedKey[], nowMs: number): string {
  const age = (at: string | undefined) => ageOf(at, nowMs);
  const rows = [
    ["NAME", "KID", "ALG", "STATE", "CREATED", "ACTIVATED", "DEACTIVATED"],
    ...listing.map((key) => [key.name, key.kid, key.alg, key.state, age(key.createdAt), age(key.activatedAt), age(key.deactivatedAt)]),
  ];
  return formatTable(rows);
}
