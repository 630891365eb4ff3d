import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { JSONWebKeySet } from "jose";
import { parseDocument } from "yaml";
import { z } from "zod";
import { parseDurationSeconds } from "../lib/durations.js";
import { ASYMMETRIC_ALGORITHMS, DEFAULT_ALGORITHMS, JWT_SVID_ALGORITHMS, type AsymmetricAlgorithm } from "./algorithms.js";
import { declaredTypProblem, DEFAULT_TYP, normalizeTyp, SPIFFE_DEFAULT_TYP } from "./explicit-typing.js";
import { toVerificationJwks } from "./jwks-document.js";
import { dropUnusableKeys } from "./jwks-key-check.js";
import { TRUST_DOMAIN_NAME } from "./spiffe-id.js";
import { PROFILE_NAMES, type ProfileName } from "./types.js";
import { checkTrustedOrigin, checkTrustedUrl, sameIssuerUrl } from "./url-policy.js";

/** Where an issuer's verification keys come from. */
export type IssuerKeys =
  | { readonly kind: "discovery" }
  | { readonly kind: "jwks_uri"; readonly url: string }
  /** `jwks` is the file's content, already validated (and SPIFFE-bundle-filtered for spiffe). */
  | { readonly kind: "jwks_file"; readonly path: string; readonly jwks: JSONWebKeySet };

/** One trusted external issuer, with every default applied. */
export interface IssuerConfig {
  /** Stable name used in policies and logs. */
  readonly id: string;
  /** Exact `iss` value its tokens carry. */
  readonly issuer: string;
  readonly profile: ProfileName;
  readonly keys: IssuerKeys;
  /** A token's `aud` must contain at least one of these. */
  readonly audiences: readonly string[];
  readonly algorithms: readonly AsymmetricAlgorithm[];
  readonly maxTokenAgeSeconds: number;
  readonly maxLifetimeSeconds: number;
  readonly clockSkewSeconds: number;
  readonly requireIat: boolean;
  /** Each token is accepted once (single-use CI tokens): a second exchange is a replay. */
  readonly replayProtection: boolean;
  /** With discovery: origins besides the issuer's own that its `jwks_uri` may point to. */
  readonly jwksUriOrigins: readonly string[];
  /** Profile spiffe: the trust domain whose bundle this is; its JWT-SVIDs must name IDs in it. */
  readonly trustDomain: string | undefined;
  /** Header `typ` values accepted (normalized media types); an absent `typ` is always accepted. */
  readonly acceptedTyp: ReadonlySet<string>;
}

/** Options for {@link parseIssuerConfigs}. */
export interface ParseIssuerConfigOptions {
  /** Name of the source used as the prefix of every problem (usually the file path). */
  readonly source: string;
  /** The broker's own issuer URL: never trusted as an external issuer. */
  readonly brokerIssuer: string;
  /** Directory jwks_file paths are relative to. */
  readonly baseDir: string;
  /** Largest number of keys a jwks_file may hold (default 100). */
  readonly maxStaticKeys?: number;
}

const MAX_CLOCK_SKEW_SECONDS = 300;

const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const seconds = parseDurationSeconds(value);
  if (seconds === undefined) {
    ctx.addIssue({ code: "custom", message: `${JSON.stringify(value)} is not a duration like 90s, 15m or 1h` });
    return z.NEVER;
  }
  return seconds;
});
const positiveDuration = duration.refine((seconds) => seconds > 0, "must be greater than zero");

const trustedUrl = z.string().superRefine((text, ctx) => {
  const problem = checkTrustedUrl(text);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
});

const keysSchema = z
  .strictObject({
    discovery: z.literal(true, { error: "must be true when present" }).optional(),
    jwks_uri: z
      .string()
      .superRefine((text, ctx) => {
        const problem = checkTrustedUrl(text, { allowQuery: true });
        if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
      })
      .optional(),
    jwks_file: z.string().min(1).optional(),
  })
  .refine(
    (keys) => [keys.discovery, keys.jwks_uri, keys.jwks_file].filter((v) => v !== undefined).length === 1,
    "set exactly one of discovery, jwks_uri, jwks_file",
  );

const issuerSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9-]+$/, "must match [a-z0-9-]+"),
  issuer: trustedUrl,
  profile: z.enum(PROFILE_NAMES, { error: `must be one of ${PROFILE_NAMES.join(", ")}` }),
  keys: keysSchema,
  audiences: z.array(z.string().min(1)).min(1, "must not be empty").optional(),
  algorithms: z
    .array(z.enum(ASYMMETRIC_ALGORITHMS, { error: `must be an asymmetric JWS algorithm (${ASYMMETRIC_ALGORITHMS.join(", ")})` }))
    .min(1, "must not be empty")
    .optional(),
  max_token_age: positiveDuration.optional(),
  max_lifetime: positiveDuration.optional(),
  clock_skew: duration.refine((s) => s <= MAX_CLOCK_SKEW_SECONDS, "must not exceed 5m").optional(),
  require_iat: z.boolean().optional(),
  replay_protection: z.boolean().optional(),
  typ: z
    .array(
      z.string().superRefine((text, ctx) => {
        const problem = declaredTypProblem(text);
        if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
      }),
    )
    .min(1, "must not be empty")
    .optional(),
  trust_domain: z.string().regex(TRUST_DOMAIN_NAME, "must be a SPIFFE trust domain name (lowercase letters, digits, '.', '-', '_')").optional(),
  jwks_uri_origins: z
    .array(
      z.string().superRefine((text, ctx) => {
        const problem = checkTrustedOrigin(text);
        if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
      }),
    )
    .min(1, "must not be empty")
    .optional(),
})
  .refine((entry) => entry.jwks_uri_origins === undefined || entry.keys.discovery === true, {
    message: "only applies with keys.discovery (a configured jwks_uri or jwks_file is used as given)",
    path: ["jwks_uri_origins"],
  })
  // SPIFFE Trust Domain and Bundle §4: a bundle holds one trust domain's keys, and vouches for
  // nothing else. The issuer must say which, so a JWT-SVID naming another domain is refused.
  .refine((entry) => (entry.profile === "spiffe") === (entry.trust_domain !== undefined), {
    message: "is required for profile spiffe (the trust domain whose keys these are), and only allowed there",
    path: ["trust_domain"],
  })
  // JWT-SVID §2.1: RS256/384/512, ES256/384/512 and PS256/384/512 only.
  .refine((entry) => entry.profile !== "spiffe" || (entry.algorithms ?? DEFAULT_ALGORITHMS).every((alg) => JWT_SVID_ALGORITHMS.includes(alg)), {
    message: `JWT-SVIDs are signed with ${JWT_SVID_ALGORITHMS.join(", ")} only (JWT-SVID §2.1)`,
    path: ["algorithms"],
  });

type IssuerEntry = z.output<typeof issuerSchema>;

/**
 * Reads and validates the trusted-issuers YAML file. Throws one Error listing every problem,
 * each with the file, the issuer's index and id, and the field path.
 */
export async function loadIssuerConfigs(file: string, brokerIssuer: string): Promise<IssuerConfig[]> {
  const text = await readFile(file, "utf8");
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    throw new Error(`invalid issuers file ${file}:\n${doc.errors.map((e) => `  - ${file}: ${e.message}`).join("\n")}`);
  }
  return parseIssuerConfigs(doc.toJS() as unknown, { source: file, brokerIssuer, baseDir: dirname(resolve(file)) });
}

/** Validates an already-parsed issuers document; see {@link loadIssuerConfigs}. */
export async function parseIssuerConfigs(input: unknown, options: ParseIssuerConfigOptions): Promise<IssuerConfig[]> {
  const problems: string[] = [];
  const top = z.strictObject({ issuers: z.array(z.unknown()) }).safeParse(input);
  if (!top.success) {
    for (const issue of top.error.issues) problems.push(`${formatPath(issue.path) || "top level"}: ${issue.message}`);
    throw configError(options.source, problems);
  }
  const configs: IssuerConfig[] = [];
  const seenIds = new Map<string, number>();
  const seenIssuers: { issuer: string; index: number }[] = [];
  for (const [index, raw] of top.data.issuers.entries()) {
    const label = entryLabel(index, raw);
    // Cross-entry checks read the raw fields, so they are reported even when the entry has
    // other problems: the operator sees every problem in one go.
    const { id, issuer } = rawIdentity(raw);
    if (id !== undefined) {
      const firstId = seenIds.get(id);
      if (firstId !== undefined) problems.push(`${label} id: duplicate id, already used by issuers[${firstId}]`);
      else seenIds.set(id, index);
    }
    if (issuer !== undefined) {
      const twin = seenIssuers.find((seen) => sameIssuerUrl(seen.issuer, issuer));
      if (twin !== undefined) problems.push(`${label} issuer: duplicate issuer, already configured by issuers[${twin.index}]`);
      seenIssuers.push({ issuer, index });
      if (sameIssuerUrl(issuer, options.brokerIssuer)) {
        // The broker's own tokens are re-exchanged as access_token, never as external identities.
        problems.push(`${label} issuer: is the broker's own issuer URL and cannot be trusted as an external issuer`);
      }
    }
    const parsed = issuerSchema.safeParse(raw);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) problems.push(`${[label, formatPath(issue.path)].filter(Boolean).join(" ")}: ${issue.message}`);
      continue;
    }
    const entry = parsed.data;
    const keys = await resolveKeys(entry, options, (message) => problems.push(`${label} keys.jwks_file: ${message}`));
    if (keys !== undefined) configs.push(withDefaults(entry, keys, options.brokerIssuer));
  }
  if (problems.length > 0) throw configError(options.source, problems);
  return configs;
}

async function resolveKeys(
  entry: IssuerEntry,
  options: ParseIssuerConfigOptions,
  report: (message: string) => void,
): Promise<IssuerKeys | undefined> {
  if (entry.keys.discovery === true) return { kind: "discovery" };
  if (entry.keys.jwks_uri !== undefined) return { kind: "jwks_uri", url: entry.keys.jwks_uri };
  const path = resolve(options.baseDir, entry.keys.jwks_file ?? "");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    report(`cannot read ${path}`);
    return undefined;
  }
  try {
    const jwks = toVerificationJwks(JSON.parse(text) as unknown, {
      maxKeys: options.maxStaticKeys ?? 100,
      spiffeBundle: entry.profile === "spiffe",
    });
    if (jwks.keys.length === 0) throw new Error("contains no usable verification keys");
    // A key that cannot be imported would fail every token naming it inside WebCrypto: refuse the file.
    const { refused } = await dropUnusableKeys(jwks);
    const [bad] = refused;
    if (bad !== undefined) throw new Error(`keys[${bad.index}]${bad.kid === undefined ? "" : ` (kid ${JSON.stringify(bad.kid)})`} ${bad.reason}`);
    return { kind: "jwks_file", path, jwks };
  } catch (error) {
    report(`${path}: ${error instanceof SyntaxError ? "not valid JSON" : (error as Error).message}`);
    return undefined;
  }
}

function withDefaults(entry: IssuerEntry, keys: IssuerKeys, brokerIssuer: string): IssuerConfig {
  return {
    id: entry.id,
    issuer: entry.issuer,
    profile: entry.profile,
    keys,
    audiences: entry.audiences ?? [brokerIssuer],
    algorithms: [...new Set(entry.algorithms ?? DEFAULT_ALGORITHMS)],
    maxTokenAgeSeconds: entry.max_token_age ?? 3600,
    maxLifetimeSeconds: entry.max_lifetime ?? 86_400,
    clockSkewSeconds: entry.clock_skew ?? 60,
    // SPIFFE JWT-SVID §3: iat is optional in JWT-SVIDs.
    requireIat: entry.require_iat ?? entry.profile !== "spiffe",
    replayProtection: entry.replay_protection ?? false,
    jwksUriOrigins: (entry.jwks_uri_origins ?? []).map((origin) => new URL(origin).origin),
    trustDomain: entry.trust_domain,
    acceptedTyp: new Set((entry.typ ?? (entry.profile === "spiffe" ? SPIFFE_DEFAULT_TYP : DEFAULT_TYP)).map(normalizeTyp)),
  };
}

function rawIdentity(raw: unknown): { id?: string; issuer?: string } {
  if (typeof raw !== "object" || raw === null) return {};
  const { id, issuer } = raw as Record<string, unknown>;
  return { ...(typeof id === "string" ? { id } : {}), ...(typeof issuer === "string" ? { issuer } : {}) };
}

function entryLabel(index: number, raw: unknown): string {
  const { id } = rawIdentity(raw);
  return id !== undefined ? `issuers[${index}] (id ${JSON.stringify(id)})` : `issuers[${index}]`;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((part, i) => (typeof part === "number" ? `[${part}]` : i === 0 ? String(part) : `.${String(part)}`)).join("");
}

function configError(source: string, problems: readonly string[]): Error {
  const lines = problems.map((problem) => `  - ${source}: ${problem}`);
  return new Error(`invalid issuers file ${source} (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n${lines.join("\n")}`);
}
