import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { InvalidArgumentError, type Command } from "commander";
import { activateNextCa, initCaSet, listCas, prepareNextCa, retireCa, writeCaRequest, type CaListing, type CaRotationResult, type ImportedCa } from "../credentials/x509/ca-rotation.js";
import { systemClock } from "../lib/clock.js";
import { ageOf, formatTable } from "./age-table.js";
import { parseDurationSeconds } from "../lib/durations.js";
import { DEFAULT_KEYS_DIR } from "../protocol/broker-defaults.js";

/** BROKER_SVID_MAX_LIFETIME's ceiling (config.ts): the longest an SVID can live. */
const SVID_LIFETIME_CEILING_SECONDS = 86_400;

const lifetime = (text: string): number => {
  const seconds = parseDurationSeconds(text);
  if (seconds === undefined || seconds <= 0 || seconds > SVID_LIFETIME_CEILING_SECONDS) throw new InvalidArgumentError("a duration like 15m or 1h, at most 24h");
  return seconds;
};
const days = (text: string): number => {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1 || value > 3650) throw new InvalidArgumentError("a whole number of days from 1 to 3650");
  return value;
};

interface CaOptions {
  readonly dir: string;
  readonly trustDomain?: string;
  readonly certificate?: string;
  readonly key?: string;
  readonly chain?: string;
  readonly days: number;
  readonly force?: boolean;
}

/**
 * `broker ca init | rotate --prepare | --activate | --retire <name> | list`: the X.509-SVID CA
 * in the managed CA folder (BROKER_CA_DIR, default keys/ca) every replica mounts. Each step is
 * one atomic ca-set.json rewrite that running replicas pick up within seconds
 * (docs/operations.md, "Rotate the CA").
 */
export function addCaCommands(program: Command): void {
  const ca = program.command("ca").description("manage the X.509-SVID CA (the managed CA folder, BROKER_CA_DIR, default keys/ca)");
  const defaultDir = process.env.BROKER_CA_DIR ?? join(process.env.BROKER_KEYS_DIR ?? DEFAULT_KEYS_DIR, "ca");
  const withCommon = (command: Command) =>
    command
      .option("--dir <dir>", "the managed CA folder (holds ca-set.json)", defaultDir)
      .option("--trust-domain <name>", "SPIFFE trust domain of the CAs", process.env.BROKER_TRUST_DOMAIN);
  const withSource = (command: Command) =>
    command
      .option("--certificate <file>", "a CA certificate from your PKI (PEM) instead of a generated root")
      .option("--key <file|pkcs11-uri>", "its private key: a PEM file, or a pkcs11: URI naming a key in the token")
      .option("--chain <file>", "the chain above it up to and including your root (PEM)")
      .option("--days <days>", "validity of a generated root, days", days, 365);

  withSource(withCommon(ca.command("init")))
    .description("create ca-set.json with one active CA: --certificate/--key/--chain (the files BROKER_CA_CERT/KEY/CHAIN named), else the development CA already in the folder, else a new root")
    .action((options: CaOptions) => run(async () => report("initialised (active)", await initCaSet(folder(options), { ...(await common(options)), ...(await source(options)) }))));

  withSource(withCommon(ca.command("rotate")))
    .description("one rotation step: --prepare (publish the next CA), --activate (it signs), --retire <name> (drop a previous CA and its CRL)")
    .option("--prepare", "add the next CA (generated root, or --certificate/--key/--chain) to the trust bundle without signing with it")
    .option("--activate", "make the prepared CA sign SVIDs; the previous one stays in the bundle")
    .option("--retire <name>", "remove a previous CA from the bundle and its CRL once its last SVID has expired")
    .option("--max-svid-lifetime <duration>", "the brokers' BROKER_SVID_MAX_LIFETIME (default: that variable, else 1h)", lifetime)
    .option("--force", "override a refused safety check (prints what it overrode)")
    .action((options: CaOptions & { prepare?: boolean; activate?: boolean; retire?: string; maxSvidLifetime?: number }) =>
      run(async () => {
        const steps = [options.prepare, options.activate, options.retire].filter((step) => step !== undefined);
        if (steps.length !== 1) throw new Error("give exactly one of --prepare, --activate, --retire <name>");
        const dir = folder(options);
        const base = await common(options);
        if (options.prepare) return report("prepared (in the trust bundle, not signing yet)", await prepareNextCa(dir, { ...base, ...(await source(options)) }));
        if (options.activate) return report("activated (signing SVIDs; the previous CA stays in the bundle)", await activateNextCa(dir, base));
        const maxSvidLifetimeSeconds = options.maxSvidLifetime ?? lifetime(process.env.BROKER_SVID_MAX_LIFETIME ?? "1h");
        return report("retired (out of the bundle; its CRL no longer served)", await retireCa(dir, options.retire ?? "", { ...base, maxSvidLifetimeSeconds }));
      }),
    );

  withCommon(ca.command("request"))
    .description("a new CA key and a certificate request (PKCS#10) for your PKI to sign as an intermediate; then rotate --prepare --certificate <signed> --key <key> --chain <upstream>")
    .option("--out <dir>", "where to write <name>.key (0600) and <name>.csr", ".")
    .option("--common-name <name>", "the CN asked for (default: credential broker intermediate CA <time>)")
    .option("--key <pkcs11-uri>", "ask for an existing key in the token instead of generating one")
    .action((options: { dir: string; trustDomain?: string; out: string; commonName?: string; key?: string }) =>
      run(async () => {
        if (!options.trustDomain) throw new Error("--trust-domain (or BROKER_TRUST_DOMAIN) is needed");
        const written = await writeCaRequest(resolve(options.out), options.trustDomain, { ...(options.commonName ? { commonName: options.commonName } : {}), ...(options.key ? { tokenKey: options.key } : {}) }, systemClock);
        process.stdout.write(`wrote ${written.csr}${written.key === undefined ? "" : ` and ${written.key} (mode 0600)`}: have your PKI sign it as a CA, then\n`);
        process.stdout.write(`broker ca rotate --prepare --certificate <signed.pem> --key ${written.key ?? options.key ?? ""} --chain <upstream-chain.pem>\n`);
      }),
    );

  withCommon(ca.command("list"))
    .description("list the CAs: name, state, key id, expiry and ages")
    .option("--json", "print JSON")
    .action((options: { dir: string; json?: boolean }) =>
      run(async () => {
        const listing = await listCas(resolve(options.dir));
        process.stdout.write(options.json ? `${JSON.stringify(listing, null, 2)}\n` : formatListing(listing, Date.now()));
      }),
    );
}

const folder = (options: { dir: string }): string => resolve(options.dir);

async function common(options: CaOptions) {
  if (!options.trustDomain) throw new Error("--trust-domain (or BROKER_TRUST_DOMAIN) is needed: every CA is checked against it");
  return { clock: systemClock, trustDomain: options.trustDomain, force: options.force === true };
}

/** The imported CA (--certificate/--key/--chain), or a generated root's validity. */
async function source(options: CaOptions): Promise<{ from?: ImportedCa; root: { days: number } }> {
  const root = { days: options.days };
  if (options.certificate === undefined && options.key === undefined && options.chain === undefined) return { root };
  if (options.certificate === undefined || options.key === undefined) throw new Error("--certificate and --key go together (--chain only with them)");
  const key = options.key.startsWith("pkcs11:") ? options.key : await readFile(options.key, "utf8");
  const from: ImportedCa = { certificatePem: await readFile(options.certificate, "utf8"), key, ...(options.chain === undefined ? {} : { chainPem: await readFile(options.chain, "utf8") }) };
  return { from, root };
}

async function run(step: () => Promise<void>): Promise<void> {
  try {
    await step();
  } catch (error) {
    process.stderr.write(`broker ca: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}

function report(what: string, result: CaRotationResult): void {
  for (const warning of result.warnings) process.stderr.write(`WARNING: ${warning}\n`);
  process.stdout.write(`${what}: ${result.name} (key id ${result.keyId}, expires ${result.notAfter})\n`);
}

/** A fixed-width table; ages in whole units. */
function formatListing(listing: readonly CaListing[], nowMs: number): string {
  const age = (at: string | undefined) => ageOf(at, nowMs);
  const rows = [
    ["NAME", "STATE", "KEY ID", "EXPIRES", "KEY", "CREATED", "ACTIVATED", "DEACTIVATED"],
    ...listing.map((each) => [each.name, each.state, each.keyId.slice(0, 16), each.notAfter.slice(0, 10), each.key, age(each.createdAt), age(each.activatedAt), age(each.deactivatedAt)]),
  ];
  return formatTable(rows);
}
