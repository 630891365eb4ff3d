import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { InvalidArgumentError, type Command } from "commander";
import { CA_KEY_TYPES, parseCaKeyType, type CaKeyType, type TokenCaKeyDestroyer, type TokenCaKeyGenerator } from "../credentials/x509/ca-new-key.js";
import { writeCaRequest } from "../credentials/x509/ca-request.js";
import { activateNextCa, initCaSet, listCas, prepareNextCa, retireCa, type CaListing, type CaRotationResult, type ImportedCa, type NewRoot } from "../credentials/x509/ca-rotation.js";
import type { TokenCaKeyResolver } from "../credentials/x509/ca-set.js";
import { systemClock } from "../lib/clock.js";
import { ageOf, formatTable } from "./age-table.js";
import { parseDurationSeconds } from "../lib/durations.js";
import { openTokenCaKey } from "../pkcs11/token-ca-key.js";
import { tokenCaKeyDestroyer, tokenCaKeyGenerator } from "../pkcs11/token-ca-keys.js";
import type { TokenClient } from "../pkcs11/token-client.js";
import { DEFAULT_KEYS_DIR } from "../protocol/broker-defaults.js";
import { isPkcs11Uri } from "../protocol/pkcs11-uri.js";
import { withLazyToken } from "./cli-token.js";

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
  readonly inToken?: boolean;
  readonly keyType?: CaKeyType;
  readonly force?: boolean;
}

type Token = () => Promise<TokenClient>;
const TOKEN_PURPOSE = "the CA key is in the PKCS#11 token";

/**
 * `broker ca init | rotate --prepare | --activate | --retire <name> | list | request`: the
 * X.509-SVID CA in the managed CA folder (BROKER_CA_DIR, default keys/ca) every replica mounts.
 * Each step is one atomic ca-set.json rewrite that running replicas pick up within seconds
 * (docs/operations.md, "Rotate the CA"). A CA key in a PKCS#11 token (`--in-token`, `--key
 * pkcs11:…`, or a CA of the folder whose key is there) is reached through the token the
 * BROKER_PKCS11_* variables name, opened once for the command when it needs it and closed after.
 */
export function addCaCommands(program: Command): void {
  const ca = program.command("ca").description("manage the X.509-SVID CA (the managed CA folder, BROKER_CA_DIR, default keys/ca)");
  const defaultDir = process.env.BROKER_CA_DIR ?? join(process.env.BROKER_KEYS_DIR ?? DEFAULT_KEYS_DIR, "ca");
  const withCommon = (command: Command) =>
    command
      .option("--dir <dir>", "the managed CA folder (holds ca-set.json)", defaultDir)
      .option("--trust-domain <name>", "SPIFFE trust domain of the CAs", process.env.BROKER_TRUST_DOMAIN);
  const withSource = (command: Command) =>
    withNewKey(command)
      .option("--certificate <file>", "a CA certificate from your PKI (PEM) instead of a generated root")
      .option("--key <file|pkcs11-uri>", "its private key: a PEM file, or a pkcs11: URI naming a key in the token")
      .option("--chain <file>", "the chain above it up to and including your root (PEM)")
      .option("--days <days>", "validity of a generated root, days", days, 365);

  withSource(withCommon(ca.command("init")))
    .description("create ca-set.json with one active CA: --certificate/--key/--chain (the files BROKER_CA_CERT/KEY/CHAIN named), else the development CA already in the folder, else a new root (its key in a file, or --in-token)")
    .action((options: CaOptions) => run(async (token) => report("initialised (active)", await initCaSet(folder(options), { ...(await common(options, token)), ...(await source(options, token)) }))));
  addRotate(withSource(withCommon(ca.command("rotate"))));
  addRequest(withNewKey(withCommon(ca.command("request"))));
  withCommon(ca.command("list"))
    .description("list the CAs: name, state, key id, expiry, where the key is (file or pkcs11:) and ages")
    .option("--json", "print JSON (the key's full pkcs11: URI, with its id)")
    .action((options: { dir: string; json?: boolean }) =>
      run(async () => {
        const listing = await listCas(resolve(options.dir));
        process.stdout.write(options.json ? `${JSON.stringify(listing, null, 2)}\n` : formatListing(listing, Date.now()));
      }),
    );
}

/** `--in-token` and `--key-type`: where and what a new CA key is. */
function withNewKey(command: Command): Command {
  return command
    .option("--in-token", "generate the new CA key inside the PKCS#11 token BROKER_PKCS11_* names (sensitive, never extractable), labelled with the CA's name")
    .option("--key-type <type>", `a new CA key's type: ${CA_KEY_TYPES.join(", ")} (default P-256)`, (text: string) => {
      try {
        return parseCaKeyType(text);
      } catch (error) {
        throw new InvalidArgumentError((error as Error).message);
      }
    });
}

function addRotate(command: Command): void {
  command
    .description("one rotation step: --prepare (publish the next CA), --activate (it signs), --retire <name> (drop a previous CA and its CRL)")
    .option("--prepare", "add the next CA (generated root, its key in a file or --in-token; or --certificate/--key/--chain) to the trust bundle without signing with it")
    .option("--activate", "make the prepared CA sign SVIDs; the previous one stays in the bundle")
    .option("--retire <name>", "remove a previous CA from the bundle and its CRL once its last SVID has expired")
    .option("--destroy-key", "with --retire: destroy the CA's key in the token too (kept by default)")
    .option("--max-svid-lifetime <duration>", "the brokers' BROKER_SVID_MAX_LIFETIME (default: that variable, else 1h)", lifetime)
    .option("--force", "override a refused safety check (prints what it overrode)")
    .action((options: CaOptions & { prepare?: boolean; activate?: boolean; retire?: string; destroyKey?: boolean; maxSvidLifetime?: number }) =>
      run(async (token) => {
        const steps = [options.prepare, options.activate, options.retire].filter((step) => step !== undefined);
        if (steps.length !== 1) throw new Error("give exactly one of --prepare, --activate, --retire <name>");
        if (!options.prepare && (options.inToken || options.keyType !== undefined || options.certificate !== undefined || options.key !== undefined || options.chain !== undefined)) throw new Error("--in-token, --key-type, --certificate, --key and --chain go with --prepare");
        if (options.destroyKey && options.retire === undefined) throw new Error("--destroy-key goes with --retire");
        const dir = folder(options);
        const base = await common(options, token);
        if (options.prepare) return report("prepared (in the trust bundle, not signing yet)", await prepareNextCa(dir, { ...base, ...(await source(options, token)) }));
        if (options.activate) return report("activated (signing SVIDs; the previous CA stays in the bundle)", await activateNextCa(dir, base));
        const maxSvidLifetimeSeconds = options.maxSvidLifetime ?? lifetime(process.env.BROKER_SVID_MAX_LIFETIME ?? "1h");
        const destroyTokenKey: TokenCaKeyDestroyer | undefined = options.destroyKey ? async (uri, stillNamed) => tokenCaKeyDestroyer(await token())(uri, stillNamed) : undefined;
        return report("retired (out of the bundle; its CRL no longer served)", await retireCa(dir, options.retire ?? "", { ...base, maxSvidLifetimeSeconds, ...(destroyTokenKey ? { destroyTokenKey } : {}) }));
      }),
    );
}

function addRequest(command: Command): void {
  command
    .description("a new CA key (a file, or --in-token) and a certificate request (PKCS#10) for your PKI to sign as an intermediate; then rotate --prepare --certificate <signed> --key <key> --chain <upstream>")
    .option("--out <dir>", "where to write <name>.csr (and <name>.key, 0600, unless the key is in the token)", ".")
    .option("--common-name <name>", "the CN asked for (default: credential broker intermediate CA <time>)")
    .option("--key <pkcs11-uri>", "ask for an existing key in the token instead of generating one")
    .action((options: { dir: string; trustDomain?: string; out: string; commonName?: string; key?: string; inToken?: boolean; keyType?: CaKeyType }) =>
      run(async (token) => {
        if (!options.trustDomain) throw new Error("--trust-domain (or BROKER_TRUST_DOMAIN) is needed");
        if (options.key !== undefined && (options.inToken || options.keyType !== undefined)) throw new Error("--key names an existing key: --in-token and --key-type are for a new one");
        const hooks = tokenHooks(token);
        const written = await writeCaRequest(
          resolve(options.out),
          options.trustDomain,
          { ...(options.commonName ? { commonName: options.commonName } : {}), ...(options.key ? { tokenKey: options.key, resolveToken: hooks.tokenKey } : {}), ...(options.inToken ? { inToken: hooks.inToken } : {}), ...(options.keyType ? { keyType: options.keyType } : {}) },
          systemClock,
        );
        const where = written.custody === "file" ? ` and ${written.key} (mode 0600)` : options.key === undefined ? `; its key is in the token: ${written.key}` : "";
        process.stdout.write(`wrote ${written.csr}${where}: have your PKI sign it as a CA, then\n`);
        // A pkcs11: URI holds ';': quoted, so the line can be pasted into a shell.
        process.stdout.write(`broker ca rotate --prepare --certificate <signed.pem> --key ${written.custody === "file" ? written.key : `'${written.key}'`} --chain <upstream-chain.pem>\n`);
      }),
    );
}

/** The token's answers the CA steps need, each opening the token on first use. */
function tokenHooks(token: Token): { tokenKey: TokenCaKeyResolver; inToken: TokenCaKeyGenerator } {
  return {
    tokenKey: async (uri) => openTokenCaKey(await token(), uri),
    inToken: async (type) => tokenCaKeyGenerator(await token())(type),
  };
}

const folder = (options: { dir: string }): string => resolve(options.dir);

async function common(options: CaOptions, token: Token) {
  if (!options.trustDomain) throw new Error("--trust-domain (or BROKER_TRUST_DOMAIN) is needed: every CA is checked against it");
  return { clock: systemClock, trustDomain: options.trustDomain, force: options.force === true, tokenKey: tokenHooks(token).tokenKey };
}

/** The imported CA (--certificate/--key/--chain), or a generated root: its validity, key type and where its key goes. */
async function source(options: CaOptions, token: Token): Promise<{ from?: ImportedCa; root: NewRoot; inToken?: TokenCaKeyGenerator }> {
  const root: NewRoot = { days: options.days, ...(options.keyType === undefined ? {} : { keyType: options.keyType }) };
  if (options.certificate === undefined && options.key === undefined && options.chain === undefined) return { root, ...(options.inToken ? { inToken: tokenHooks(token).inToken } : {}) };
  if (options.inToken || options.keyType !== undefined) throw new Error("--in-token and --key-type are for a generated root: an imported CA brings its key (--key pkcs11:… for one in the token)");
  if (options.certificate === undefined || options.key === undefined) throw new Error("--certificate and --key go together (--chain only with them)");
  const key = isPkcs11Uri(options.key) ? options.key : await readFile(options.key, "utf8");
  const from: ImportedCa = { certificatePem: await readFile(options.certificate, "utf8"), key, ...(options.chain === undefined ? {} : { chainPem: await readFile(options.chain, "utf8") }) };
  return { from, root };
}

/** Runs one command's step with the token at hand (opened only if the step needs it); prints a failure as one line, exit 1. */
async function run(step: (token: Token) => Promise<void>): Promise<void> {
  try {
    await withLazyToken(TOKEN_PURPOSE, step);
  } catch (error) {
    process.stderr.write(`broker ca: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}

function report(what: string, result: CaRotationResult): void {
  for (const warning of result.warnings) process.stderr.write(`WARNING: ${warning}\n`);
  process.stdout.write(`${what}: ${result.name} (key id ${result.keyId}, expires ${result.notAfter})\n`);
  for (const note of result.notes ?? []) process.stdout.write(`${note}\n`);
}

/** A fixed-width table; ages in whole units. */
function formatListing(listing: readonly CaListing[], nowMs: number): string {
  const age = (at: string | undefined) => ageOf(at, nowMs);
  const rows = [
    ["NAME", "STATE", "KEY ID", "EXPIRES", "KEY", "CREATED", "ACTIVATED", "DEACTIVATED"],
    ...listing.map((each) => [each.name, each.state, each.keyId.slice(0, 16), each.notAfter.slice(0, 10), keyColumn(each.key), age(each.createdAt), age(each.activatedAt), age(each.deactivatedAt)]),
  ];
  return formatTable(rows);
}

/** `file`, or the token key's URI without its `id=` (the table stays readable; --json has it whole). */
const keyColumn = (key: string): string => key.replace(/;id=[^;]*/, "");
