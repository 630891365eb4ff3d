import { z } from "zod";
import { PROFILE_NAMES } from "../identity/types.js";
import { parseDurationSeconds } from "../lib/durations.js";
import { SCOPE_TOKEN } from "../protocol/scope.js";

/** Policy ids: short, lowercase, usable in file names, logs and metrics labels. */
const POLICY_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Longest lifetime a policy may grant; the broker's global cap may lower it further at issue time. */
const MAX_POLICY_LIFETIME_SECONDS = 3600;

/**
 * Claims the broker sets itself (RFC 7519 §4.1, RFC 9068 §2.2, RFC 8693 §4, RFC 7800, OIDC Core).
 * A policy adding one of these could forge the token's meaning, so they are refused in `grant.claims`.
 */
const RESERVED_CLAIM_NAMES: ReadonlySet<string> = new Set([
  "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope", "client_id", "act", "may_act", "cnf",
  "delegation_policy", "lineage", "iat_ms",
  "typ", "azp", "auth_time", "acr", "amr", "nonce", "token_type",
]);

/** A workload id: becomes `sub`, so no whitespace or control characters, at most 255 characters. */
export const WORKLOAD_ID_PATTERN = /^[^\s\p{Cc}]{1,255}$/u;

/**
 * A CEL expression. YAML reads `condition: true` or `retries: 3` as a bool or number; those are
 * also valid CEL literals, so they are taken back as their source text rather than refused.
 */
const celSource = z
  .union([z.string(), z.boolean(), z.number()])
  .transform((value) => String(value).trim())
  .pipe(z.string().min(1, "must be a non-empty CEL expression"));

const lifetime = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const seconds = parseDurationSeconds(value);
  if (seconds === undefined || seconds <= 0) {
    ctx.addIssue({ code: "custom", message: `not a positive duration like "10m", "90s" or "1h": ${String(value)}` });
    return z.NEVER;
  }
  if (seconds > MAX_POLICY_LIFETIME_SECONDS) {
    ctx.addIssue({ code: "custom", message: `${seconds}s exceeds the ${MAX_POLICY_LIFETIME_SECONDS}s a policy may grant` });
    return z.NEVER;
  }
  return seconds;
});

const claimName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/, "claim names are letters, digits, _ . : - (at most 64)")
  .refine((name) => !RESERVED_CLAIM_NAMES.has(name), "is reserved: the broker sets it itself")
  // `__proto__` and friends would be object plumbing, not claims.
  .refine((name) => !name.startsWith("__"), "may not start with __");

/** A DNS name an X.509-SVID may carry (RFC 1123 labels, lowercase, no wildcard, at most 253 bytes). */
const DNS_NAME = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Credential types a grant may name; `jwt` is a JWT-SVID, `x509_svid` an X.509-SVID. */
const GRANTED_TOKEN_TYPES = ["access_token", "jwt", "x509_svid"] as const;

/** Hard cap on the `act` chain a token may carry, whatever a policy says. */
export const MAX_CHAIN_DEPTH = 5;

/**
 * RFC 8693 delegation: who may act for the subject (`actor_token`), and how long the chain of
 * actors may grow. Without it, an actor_token is refused for this grant.
 */
const delegationSchema = z.strictObject({
  /** CEL over `actor` (and `identity`, `claims`, `request`): must be true for the actor. */
  actor_condition: celSource,
  max_chain_depth: z.number().int().min(1).max(MAX_CHAIN_DEPTH).default(1),
  /** RFC 8693 §4.4: the one party that may act for tokens issued under this grant. */
  may_act: z
    .strictObject({
      sub: z.string().min(1).max(255),
      iss: z.string().min(1).max(512).optional(),
    })
    .optional(),
});

const grantSchema = z
  .strictObject({
    workload_id: z.string().regex(WORKLOAD_ID_PATTERN, "must be 1-255 characters without whitespace or control characters").optional(),
    workload_id_expr: celSource.optional(),
    audiences: z.array(z.string().min(1)).min(1, "must list at least one audience or resource"),
    scopes: z.array(z.string().regex(SCOPE_TOKEN, "not an RFC 6749 §3.3 scope token")).default([]),
    max_lifetime: lifetime,
    token_types: z.array(z.enum(GRANTED_TOKEN_TYPES)).min(1).default(["access_token"]),
    claims: z.record(claimName, celSource).default({}),
    /** The SPIFFE ID of JWT-SVIDs and X.509-SVIDs; checked against the trust domain at compile. */
    spiffe_id: z.string().min(1).optional(),
    spiffe_id_expr: celSource.optional(),
    /** DNS SANs an X.509-SVID may carry, besides its SPIFFE ID. */
    dns_names: z.array(z.string().regex(DNS_NAME, "must be a lowercase DNS name without wildcards")).max(20).default([]),
    /** Delegation (RFC 8693 actor_token); absent: refused. */
    delegation: delegationSchema.optional(),
    /** RFC 9449: access tokens of this grant are issued only DPoP-bound (a request without a proof is refused). */
    require_dpop: z.boolean().default(false),
  })
  .refine((grant) => grant.spiffe_id === undefined || grant.spiffe_id_expr === undefined, {
    path: ["spiffe_id"],
    message: "set at most one of spiffe_id and spiffe_id_expr",
    when: (payload) => typeof payload.value === "object" && payload.value !== null,
  })
  .refine(
    (grant) =>
      !typesOf(grant).some((type) => type === "jwt" || type === "x509_svid") ||
      grant.spiffe_id !== undefined ||
      grant.spiffe_id_expr !== undefined,
    {
      path: ["spiffe_id"],
      message: "token_types jwt and x509_svid (SVIDs) need spiffe_id or spiffe_id_expr",
      when: (payload) => typeof payload.value === "object" && payload.value !== null,
    },
  )
  .refine((grant) => grant.require_dpop !== true || !typesOf(grant).includes("jwt"), {
    path: ["require_dpop"],
    message: "a JWT-SVID cannot be DPoP-bound: remove jwt from token_types, or require_dpop",
    when: (payload) => typeof payload.value === "object" && payload.value !== null,
  })
  .refine((grant) => !Array.isArray(grant.dns_names) || grant.dns_names.length === 0 || typesOf(grant).includes("x509_svid"), {
    path: ["dns_names"],
    message: "dns_names apply to X.509-SVIDs only: add x509_svid to token_types",
    when: (payload) => typeof payload.value === "object" && payload.value !== null,
  })
  .refine((grant) => (grant.workload_id === undefined) !== (grant.workload_id_expr === undefined), {
    path: ["workload_id"],
    message: "set exactly one of workload_id and workload_id_expr",
    // Run even when other grant fields are invalid, so every error is reported in one pass.
    when: (payload) => typeof payload.value === "object" && payload.value !== null,
  });

/** The grant's token types as written; the refinements also run over an otherwise invalid grant. */
function typesOf(grant: { token_types: readonly string[] }): readonly string[] {
  return Array.isArray(grant.token_types) ? grant.token_types : [];
}

/** One `*.policy.yaml` file. Unknown fields are refused: a typo must not widen or silently drop a rule. */
export const policyFileSchema = z.strictObject({
  id: z.string().regex(POLICY_ID_PATTERN, "must match [a-z0-9][a-z0-9-]{0,62}"),
  description: z.string().max(1000).optional(),
  /** Who answers for this policy (a team, a person, a channel): shown by the inventory. */
  owner: z.string().max(200).optional(),
  issuer: z.string().min(1),
  condition: celSource,
  grant: grantSchema,
});

export type PolicyFile = z.infer<typeof policyFileSchema>;

const DENIAL_REASONS = [
  "no_matching_policy",
  "target_not_granted",
  "scope_not_granted",
  "token_type_not_granted",
  "delegation_not_granted",
  "actor_not_allowed",
] as const;

/** YAML 1.2 reads an unquoted timestamp as a string; accept that, or epoch seconds. */
const instant = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = typeof value === "number" ? value * 1000 : Date.parse(value);
  if (!Number.isFinite(ms)) {
    ctx.addIssue({ code: "custom", message: `not an RFC 3339 time or epoch seconds: ${String(value)}` });
    return z.NEVER;
  }
  return Math.floor(ms / 1000);
});

const fixtureIdentitySchema = z.strictObject({
  issuer: z.string().min(1),
  profile: z.enum(PROFILE_NAMES),
  iss: z.string().min(1),
  subject: z.string().min(1),
  attributes: z.record(z.string(), z.string()).default({}),
});

/**
 * The verified actor of a delegation request (`actor` in CEL): an external identity like the
 * subject's, or a broker access token (issuer and profile `broker`, subject its workload id).
 */
const fixtureActorSchema = z.strictObject({
  identity: fixtureIdentitySchema.extend({ profile: z.enum([...PROFILE_NAMES, "broker"]) }),
  claims: z.record(z.string(), z.unknown()).default({}),
});

const fixtureCaseSchema = z.strictObject({
  name: z.string().min(1),
  now: instant,
  identity: fixtureIdentitySchema,
  claims: z.record(z.string(), z.unknown()).default({}),
  /** RFC 8693 delegation: the actor_token's verified identity; absent: no actor (impersonation). */
  actor: fixtureActorSchema.optional(),
  request: z
    .strictObject({
      audiences: z.array(z.string()).default([]),
      resources: z.array(z.string()).default([]),
      scopes: z.array(z.string()).default([]),
      requested_token_type: z.enum(GRANTED_TOKEN_TYPES).default("access_token"),
      requested_lifetime: z.number().int().positive().optional(),
      client_address: z.string().default("127.0.0.1"),
    })
    .prefault({}),
  expect: z.discriminatedUnion("allow", [
    z.strictObject({
      allow: z.literal(true),
      policy: z.string().optional(),
      workload_id: z.string().optional(),
      /** The SPIFFE ID the grant assigns. */
      spiffe_id: z.string().optional(),
      /** Audiences the token would carry for this request (after attenuation). */
      audiences: z.array(z.string()).optional(),
      /** Scopes the token would carry for this request (after attenuation). */
      scopes: z.array(z.string()).optional(),
      claims: z.record(z.string(), z.unknown()).optional(),
    }),
    z.strictObject({ allow: z.literal(false), reason: z.enum(DENIAL_REASONS).optional() }),
  ]),
});

/** One `*.test.yaml` fixture file: claims + request → expected decision, with a pinned "now". */
export const fixtureFileSchema = z.strictObject({
  policy_tests: z.array(fixtureCaseSchema).min(1),
});

export type FixtureCase = z.infer<typeof fixtureCaseSchema>;
