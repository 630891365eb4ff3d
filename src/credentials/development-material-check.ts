import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { parse } from "yaml";
import { DEV_ISSUER, devAdminSecretPath, devIssuerPaths } from "./dev-material.js";
import { readKeyset } from "./keyset-document.js";
import { toSigningKey } from "./signing-key.js";
import { CA_SET_FILE } from "./x509/ca-set-document.js";
import { DEV_ROOT_CA_COMMON_NAME, devCaPaths } from "./x509/ca-store.js";

export interface DevelopmentMaterialInput {
  /** BROKER_KEYS_DIR: where development starts put their material. */
  readonly keysDir: string;
  /** The trusted-issuers file the broker is about to load. */
  readonly issuersFile: string;
  /** BROKER_CA_CERT, when a CA is configured. */
  readonly caCertFile: string | undefined;
  /** The managed CA folder (BROKER_CA_DIR): every CA its ca-set.json names is checked by common name. */
  readonly caDir?: string;
}

/**
 * Everything development-only a production start would otherwise trust, one sentence each (empty:
 * nothing). A development start marks or places what it generates so that it can be recognised
 * later, whatever the folder went through since:
 *
 * - the development issuer, by its URL (`https://dev-issuer.invalid`: the `.invalid` TLD can name no
 *   real issuer, RFC 6761 §6.4), by a `jwks_file` under keys/dev-issuer/, or by its public key in
 *   any other `jwks_file`;
 * - a signing key by its keyset.json record (`development: true`), or, for keys made before that
 *   marker, by its file being named after its own thumbprint, which only a development start does;
 * - the development CA by where it lives (keys/ca/, read only when no CA is configured) and by its
 *   common name, wherever BROKER_CA_CERT points or the managed CA folder's ca-set.json names it.
 *
 * Files that cannot be read or parsed are left to the regular loaders, which report them.
 */
export async function findDevelopmentMaterial(input: DevelopmentMaterialInput): Promise<string[]> {
  return [
    ...(await developmentIssuers(input)),
    ...(await developmentSigningKeys(input.keysDir)),
    ...(await developmentCa(input)),
    ...(await developmentManagedCas(input)),
    ...(await developmentAdminSecret(input.keysDir)),
  ];
}

/** A development root moved into the managed CA folder (broker ca init), under any file name. */
async function developmentManagedCas({ caDir, caCertFile }: DevelopmentMaterialInput): Promise<string[]> {
  if (caDir === undefined || caCertFile !== undefined) return [];
  const document = await readOptional(join(caDir, CA_SET_FILE), (text) => JSON.parse(text) as unknown);
  const cas = isRecord(document) && isRecord(document.cas) ? Object.entries(document.cas) : [];
  const problems: string[] = [];
  for (const [name, record] of cas) {
    const file = isRecord(record) && typeof record.certificate === "string" ? join(caDir, record.certificate) : undefined;
    const pem = file === undefined ? undefined : await readOptional(file, (text) => text);
    if (pem !== undefined && isDevelopmentRoot(pem)) problems.push(`CA ${name} in ${join(caDir, CA_SET_FILE)} is the development root CA: rotate it out (broker ca rotate) and retire it`);
  }
  return problems;
}

function isDevelopmentRoot(pem: string): boolean {
  try {
    return new X509Certificate(pem).subject.split("\n").includes(`CN=${DEV_ROOT_CA_COMMON_NAME}`);
  } catch {
    return false;
  }
}

/** A development start's generated admin secret opens the admin API to whoever reads the keys folder. */
async function developmentAdminSecret(keysDir: string): Promise<string[]> {
  const file = devAdminSecretPath(keysDir);
  const present = (await readOptional(file, (text) => text)) !== undefined;
  return present ? [`development admin secret ${file}: set BROKER_ADMIN_SECRET (or use admin-scoped broker tokens) and remove the file`] : [];
}

async function developmentIssuers({ keysDir, issuersFile }: DevelopmentMaterialInput): Promise<string[]> {
  const document = await readOptional(issuersFile, (text) => parse(text) as unknown);
  const entries = isRecord(document) && Array.isArray(document.issuers) ? document.issuers.filter(isRecord) : [];
  const devPaths = devIssuerPaths(keysDir);
  const devKeys = new Set(publicKeyIds(await readOptional(devPaths.jwks, (text) => JSON.parse(text) as unknown)));
  const problems: string[] = [];
  for (const entry of entries) {
    const keys = isRecord(entry.keys) ? entry.keys : {};
    const jwksFile = typeof keys.jwks_file === "string" ? resolve(dirname(issuersFile), keys.jwks_file) : undefined;
    const reasons: string[] = [];
    if (entry.issuer === DEV_ISSUER) reasons.push(`issuer ${DEV_ISSUER}`);
    if (jwksFile !== undefined && isInside(jwksFile, devPaths.dir)) reasons.push(`keys from ${jwksFile}`);
    else if (jwksFile !== undefined && publicKeyIds(await readOptional(jwksFile, (text) => JSON.parse(text) as unknown)).some((id) => devKeys.has(id))) {
      reasons.push(`${jwksFile} holds the development issuer's key`);
    }
    if (reasons.length > 0) {
      problems.push(
        `${issuersFile} trusts the development issuer: entry ${JSON.stringify(String(entry.id))} (${reasons.join("; ")}). Remove it, and the policies that name it (local-dev.policy.yaml)`,
      );
    }
  }
  return problems;
}

async function developmentSigningKeys(keysDir: string): Promise<string[]> {
  const dir = join(keysDir, "signing");
  let keyset;
  try {
    keyset = await readKeyset(dir);
  } catch {
    return [];
  }
  const problems: string[] = [];
  for (const name of new Set([keyset.active, ...keyset.published])) {
    const record = keyset.keys?.[name];
    const marked = record?.development === true;
    if (marked || (await namedByOwnThumbprint(dir, name))) {
      problems.push(
        `signing key ${JSON.stringify(name)} in ${dir} was generated by a development start${marked ? "" : " (named after its thumbprint)"}: rotate it out with broker keys rotate --prepare, --activate, then --retire (keys/README.md)`,
      );
    }
  }
  return problems;
}

/** Development keys before the `development` marker: `<kid>.pem`, `broker keys` names are `key-<time>-…`. */
async function namedByOwnThumbprint(dir: string, name: string): Promise<boolean> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(name)) return false;
  const pem = await readOptional(join(dir, `${name}.pem`), (text) => text);
  if (pem === undefined) return false;
  try {
    return (await toSigningKey(createPrivateKey(pem))).kid === name;
  } catch {
    return false;
  }
}

async function developmentCa({ keysDir, caCertFile }: DevelopmentMaterialInput): Promise<string[]> {
  const paths = devCaPaths(keysDir);
  if (caCertFile === undefined) {
    const present = (await readOptional(paths.certificate, (text) => text)) !== undefined;
    return present ? [`development root CA in ${paths.dir}: configure your CA with BROKER_CA_CERT, BROKER_CA_KEY (and BROKER_CA_CHAIN), and remove ${paths.dir}`] : [];
  }
  const pem = await readOptional(caCertFile, (text) => text);
  let developmentRoot = isInside(resolve(caCertFile), paths.dir);
  try {
    developmentRoot ||= pem !== undefined && new X509Certificate(pem).subject.split("\n").includes(`CN=${DEV_ROOT_CA_COMMON_NAME}`);
  } catch {
    // Not a certificate: the CA loader reports it.
  }
  return developmentRoot ? [`BROKER_CA_CERT (${caCertFile}) is the development root CA: configure your own CA`] : [];
}

/** EC and RSA public keys of a JWKS document, as comparable strings. */
function publicKeyIds(document: unknown): string[] {
  const keys = isRecord(document) && Array.isArray(document.keys) ? document.keys.filter(isRecord) : [];
  return keys.flatMap((key) => (typeof key.x === "string" ? [`${String(key.crv)}:${key.x}:${String(key.y)}`] : typeof key.n === "string" ? [`RSA:${key.n}`] : []));
}

async function readOptional<T>(path: string, read: (text: string) => T): Promise<T | undefined> {
  try {
    return read(await readFile(path, "utf8"));
  } catch {
    return undefined;
  }
}

function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === "" || (rel.split(sep)[0] !== ".." && !isAbsolute(rel));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
