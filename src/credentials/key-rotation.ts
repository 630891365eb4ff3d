import { createPrivateKey, generateKeyPairSync } from "node:crypto";
import { mkdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../lib/atomic-file.js";
import type { Clock } from "../lib/clock.js";
import { KEYSET_FILE, readKeyset, withKeysetLock, writeKeyset, type KeyRecord, type Keyset } from "./keyset-document.js";
import { toSigningKey } from "./signing-key.js";

/**
 * Signing key rotation, one safe step at a time, each a single atomic rewrite of keyset.json
 * that every replica picks up by itself (FileKeyStore.watch):
 *
 * 1. prepare: a new key joins `published`, so verifiers fetch it before it signs anything;
 * 2. activate (≥ {@link PUBLISH_BEFORE_ACTIVATE_SECONDS} later): it signs; the old one stays published;
 * 3. retire (≥ lifetime cap + {@link RETIRE_MARGIN_SECONDS} after 2): the old one leaves the JWKS.
 */

/** Cache-Control max-age of the broker's JWKS (http/metadata-routes.ts). */
export const JWKS_MAX_AGE_SECONDS = 300;
/** A prepared key must be published this long before it signs: JWKS max-age + the replicas' reload period. */
export const PUBLISH_BEFORE_ACTIVATE_SECONDS = JWKS_MAX_AGE_SECONDS + 10;
/** Beyond the lifetime cap before a previous key may go: replicas' reload lag and verifiers' clock skew. */
export const RETIRE_MARGIN_SECONDS = 300;

export interface RotationOptions {
  readonly clock: Clock;
  /** Override a refused safety check (the result carries a warning). */
  readonly force?: boolean;
}

/** What a step did, and any safety check that `force` overrode. */
export interface RotationResult {
  readonly name: string;
  readonly kid: string;
  readonly warnings: readonly string[];
}

/** A safety check refused the step; `--force` would override it. */
export class RotationRefused extends Error {
  override readonly name = "RotationRefused";
}

/**
 * Creates `dir` (0700) with one new active key (0600 files). Refuses when a keyset exists.
 * `nameByKid` names the file after the key's thumbprint (development keys).
 */
export async function initSigningKeys(dir: string, options: { clock: Clock; nameByKid?: boolean }): Promise<RotationResult> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (await exists(join(dir, KEYSET_FILE))) throw new Error(`${join(dir, KEYSET_FILE)} exists: refusing to overwrite keys (use broker keys rotate)`);
  return withKeysetLock(dir, async () => {
    const now = iso(options.clock);
    const key = await generateKeyFile(dir, options.clock, options.nameByKid === true);
    await writeKeyset(dir, { active: key.name, published: [], keys: { [key.name]: { kid: key.kid, created_at: now, activated_at: now } } });
    return { ...key, warnings: [] };
  });
}

/** Step 1: generates the next key and publishes it without letting it sign. */
export async function prepareNextKey(dir: string, options: RotationOptions): Promise<RotationResult> {
  return withKeysetLock(dir, async () => {
    const keyset = await readKeyset(dir);
    const pending = preparedKeys(keyset);
    if (pending.length > 0) throw new Error(`key ${pending.join(", ")} is already prepared: activate it (broker keys rotate --activate) or retire it first`);
    const key = await generateKeyFile(dir, options.clock, false);
    await writeKeyset(dir, {
      ...keyset,
      published: [...keyset.published, key.name],
      keys: { ...keyset.keys, [key.name]: { kid: key.kid, created_at: iso(options.clock) } },
    });
    return { ...key, warnings: [] };
  });
}

/** Step 2: the prepared key signs from now on; the previous active key stays published. */
export async function activateNextKey(dir: string, options: RotationOptions): Promise<RotationResult> {
  return withKeysetLock(dir, async () => {
    const keyset = await readKeyset(dir);
    const pending = preparedKeys(keyset);
    if (pending.length !== 1) throw new Error(pending.length === 0 ? "no prepared key: run broker keys rotate --prepare first" : `several prepared keys (${pending.join(", ")}): retire all but one`);
    const name = pending[0] as string;
    const record = keyset.keys?.[name] ?? {};
    const publishedFor = secondsSince(record.created_at, options.clock);
    const warnings = check(
      options,
      publishedFor >= PUBLISH_BEFORE_ACTIVATE_SECONDS,
      `key ${name} was published ${Math.floor(publishedFor)} s ago; verifiers may cache the JWKS for ${JWKS_MAX_AGE_SECONDS} s and replicas reload within 10 s: wait until ${PUBLISH_BEFORE_ACTIVATE_SECONDS} s have passed`,
    );
    const now = iso(options.clock);
    const previous = keyset.active;
    await writeKeyset(dir, {
      active: name,
      published: [...keyset.published.filter((other) => other !== name), previous],
      keys: {
        ...keyset.keys,
        [previous]: { ...keyset.keys?.[previous], deactivated_at: now },
        [name]: { ...record, activated_at: now },
      },
    });
    return { name, kid: record.kid ?? "", warnings };
  });
}

/** Step 3: removes a previous key from the JWKS (and deletes its file) once its last token has expired. */
export async function retireKey(dir: string, name: string, options: RotationOptions & { maxTokenLifetimeSeconds: number }): Promise<RotationResult> {
  return withKeysetLock(dir, async () => {
    const keyset = await readKeyset(dir);
    if (name === keyset.active) throw new Error(`key ${name} is the active key: activate another one first`);
    if (!keyset.published.includes(name)) throw new Error(`key ${name} is not published (published: ${keyset.published.join(", ") || "none"})`);
    const record: KeyRecord = keyset.keys?.[name] ?? {};
    const needed = options.maxTokenLifetimeSeconds + RETIRE_MARGIN_SECONDS;
    let warnings: readonly string[] = [];
    if (record.deactivated_at !== undefined) {
      const since = secondsSince(record.deactivated_at, options.clock);
      warnings = check(options, since >= needed, `key ${name} stopped signing ${Math.floor(since)} s ago; tokens it signed may live ${options.maxTokenLifetimeSeconds} s (+${RETIRE_MARGIN_SECONDS} s margin): wait ${Math.ceil(needed - since)} s more`);
    } else if (record.activated_at !== undefined || record.created_at === undefined) {
      warnings = check(options, false, `keyset.json does not say when key ${name} stopped signing: cannot tell whether its last token has expired`);
    }
    await writeKeyset(dir, { ...keyset, published: keyset.published.filter((other) => other !== name), keys: withoutKey(keyset.keys, name) });
    await rm(join(dir, `${name}.pem`), { force: true });
    return { name, kid: record.kid ?? "", warnings };
  });
}

/** One line of `broker keys list`. */
export interface KeyListing {
  readonly name: string;
  readonly kid: string;
  /** active: signs; next: published, not yet signing; previous: signed before, still published. */
  readonly state: "active" | "next" | "previous";
  readonly createdAt: string | undefined;
  readonly activatedAt: string | undefined;
  readonly deactivatedAt: string | undefined;
}

/** Describes every key of the keyset (kid from the PEM, so a hand-made keyset lists correctly). */
export async function listKeys(dir: string): Promise<KeyListing[]> {
  const keyset = await readKeyset(dir);
  const next = new Set(preparedKeys(keyset));
  const listing: KeyListing[] = [];
  for (const name of [keyset.active, ...keyset.published]) {
    const record = keyset.keys?.[name] ?? {};
    const kid = await readFile(join(dir, `${name}.pem`), "utf8").then(
      async (pem) => (await toSigningKey(createPrivateKey(pem))).kid,
      () => "(missing key file)",
    );
    const state = name === keyset.active ? "active" : next.has(name) ? "next" : "previous";
    listing.push({ name, kid, state, createdAt: record.created_at, activatedAt: record.activated_at, deactivatedAt: record.deactivated_at });
  }
  return listing;
}

/** Published keys that have never signed: recorded with a creation time and no activation. */
function preparedKeys(keyset: Keyset): string[] {
  return keyset.published.filter((name) => {
    const record = keyset.keys?.[name];
    return name !== keyset.active && record?.created_at !== undefined && record.activated_at === undefined;
  });
}

async function generateKeyFile(dir: string, clock: Clock, nameByKid: boolean): Promise<{ name: string; kid: string }> {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const { kid } = await toSigningKey(privateKey);
  const stamp = new Date(clock.now()).toISOString().replace(/[-:]|\.\d+/g, "");
  const name = nameByKid ? kid : `key-${stamp}-${kid.slice(0, 8)}`;
  // The key file first: a keyset naming it must never be visible before it exists.
  await writeFileAtomic(join(dir, `${name}.pem`), privateKey.export({ format: "pem", type: "pkcs8" }).toString(), 0o600);
  return { name, kid };
}

function check(options: RotationOptions, safe: boolean, problem: string): string[] {
  if (safe) return [];
  if (!options.force) throw new RotationRefused(`${problem} (--force overrides)`);
  return [`forced: ${problem}`];
}

function secondsSince(timestamp: string | undefined, clock: Clock): number {
  const at = timestamp === undefined ? Number.NaN : Date.parse(timestamp);
  return Number.isFinite(at) ? (clock.now() - at) / 1000 : 0;
}

function withoutKey(keys: Keyset["keys"], name: string): Keyset["keys"] {
  if (keys === undefined) return undefined;
  return Object.fromEntries(Object.entries(keys).filter(([other]) => other !== name));
}

const iso = (clock: Clock): string => new Date(clock.now()).toISOString();

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
