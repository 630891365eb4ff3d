import { errors, type CryptoKey, type JWTPayload } from "jose";
import { BrokerError } from "../errors/broker-error.js";
import { TOKEN_TYPE } from "../protocol/token-types.js";
import { sha256Hex } from "../lib/hash.js";
import { merged } from "../lib/merged.js";
import { epochSeconds, type Clock } from "../lib/clock.js";
import { verifyCompactJwt, type JwtRules, type ProtectedHeader } from "../lib/compact-jwt.js";
import { KeyObjects } from "../lib/jws-signature.js";
import type { HttpFetch } from "../lib/http-fetch.js";
import type { Log } from "../lib/log.js";
import { DiscoveryJwksLocator } from "./discovery.js";
import { idTokenProblem, normalizeTyp, typProblem } from "./explicit-typing.js";
import { loadIssuerConfigs, type IssuerConfig } from "./issuer-config.js";
import { toBrokerError } from "./jose-errors.js";
import { DEFAULT_MAX_TOKEN_BYTES, precheckJws, type PrecheckedHeader } from "./jws-precheck.js";
import { StaticKeySource, type KeySource } from "./key-source.js";
import { normaliseIdentity } from "./normalise-identity.js";
import { DEFAULT_REMOTE_JWKS_LIMITS, RemoteJwksSource, type RemoteJwksLimits } from "./remote-jwks.js";
import { checkTimeClaims } from "./time-claims.js";
import type { ExternalTokenType, ProfileName, SubjectTokenVerifier, TokenLabel, VerifiedSubject } from "./types.js";
import { sameIssuerUrl } from "./url-policy.js";
import { DEFAULT_VERIFIED_TOKEN_CACHE, VerifiedTokenCache, type VerifiedTokenCacheLimits } from "./verified-token-cache.js";

/** Options for {@link createTokenVerifier}. */
export interface TokenVerifierOptions {
  readonly issuers: readonly IssuerConfig[];
  /** The broker's own issuer URL; tokens from it are refused here (they are access_token exchanges). */
  readonly brokerIssuer: string;
  readonly clock: Clock;
  /** The only way out to the network: issuer discovery documents and JWKS. */
  readonly fetch: HttpFetch;
  readonly log: Log;
  /** Largest accepted token, in bytes (default 16 KiB). */
  readonly maxTokenBytes?: number;
  /** Overrides for remote JWKS timeouts, size and key caps, cache age, cooldown, stale limit. */
  readonly remoteJwks?: Partial<RemoteJwksLimits>;
  /** Reuse of successful verifications (see VerifiedTokenCache); `ttlSeconds: 0` turns it off. */
  readonly verifiedTokenCache?: VerifiedTokenCacheLimits;
  /** Told of every cache lookup, for metrics. */
  readonly onCacheLookup?: (hit: boolean) => void;
  /** Told of every verification the cache took in (a token's second verification: the doorkeeper), for metrics. */
  readonly onCacheAdmission?: () => void;
  /**
   * Accept a plain-http loopback `jwks_uri` from a discovery document (tests, local development).
   * Default false: learned key URLs must be https. Never true in production.
   */
  readonly allowLoopbackHttpJwksUri?: boolean;
  /** Told of every fetched issuer key dropped because it cannot be imported, for metrics. */
  readonly onIssuerKeyRefused?: (issuerId: string) => void;
}

/** A {@link SubjectTokenVerifier} that can also fetch remote keys ahead of the first request. */
export interface TokenVerifier extends SubjectTokenVerifier {
  /** Tries each remote key source once; logs failures, never throws. */
  warmUp(): Promise<void>;
  /** The configured issuers (issuers.yaml `id` and `profile`), in file order: policies are checked against them. */
  issuers(): { readonly id: string; readonly profile: ProfileName }[];
  /** The configured issuer whose `issuer` is exactly `iss` (its id and profile), or undefined. */
  describeIssuer(iss: string): { readonly id: string; readonly profile: string } | undefined;
  /** Each issuer's key age in seconds (undefined for key files and before the first good fetch), for metrics. */
  keyAges(): { readonly issuer: string; readonly ageSeconds: number | undefined }[];
}

/** Bound on keys tried when a kid-less header matches several (each try is a signature check). */
const MAX_KEY_CANDIDATES = 5;
/** Largest accepted `sub`, in characters. */
const MAX_SUBJECT_CHARS = 1024;

interface Route {
  readonly config: IssuerConfig;
  readonly keys: KeySource;
  readonly rules: Omit<JwtRules, "now">;
}

/**
 * Builds the verifier for external identity tokens. Nothing is fetched here: remote keys are
 * fetched on first use or by {@link TokenVerifier.warmUp}.
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const limits: RemoteJwksLimits = { ...DEFAULT_REMOTE_JWKS_LIMITS, ...options.remoteJwks };
  const routes = new Map<string, Route>();
  for (const config of options.issuers) {
    if (routes.has(config.issuer)) throw new Error(`issuer ${config.issuer} is configured twice`);
    routes.set(config.issuer, { config, keys: keySourceFor(config, options, limits), rules: jwtRulesFor(config) });
  }

  const cache = new VerifiedTokenCache(options.verifiedTokenCache ?? DEFAULT_VERIFIED_TOKEN_CACHE, options.clock);
  const maxTokenBytes = options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES;
  const context: VerifyContext = { routes, maxTokenBytes, brokerIssuer: options.brokerIssuer, clock: options.clock, keyObjects: new KeyObjects() };
  const verifyFully = (token: string, label: TokenLabel) => verifyRouted(token, label, context);

  async function verify(token: string, label: TokenLabel = "subject_token", tokenType: ExternalTokenType = TOKEN_TYPE.jwt): Promise<VerifiedSubject> {
    const subject = await verifyCached(token, label);
    // RFC 8693 §3: id_token means an OpenID Connect ID token. Checked on every call, cached or not:
    // the same token may come back declared as another type.
    const problem = tokenType === TOKEN_TYPE.idToken ? idTokenProblem(subject) : undefined;
    if (problem !== undefined) {
      throw new BrokerError("invalid_request", `${label} ${problem}`, { detail: `${label} from issuer ${subject.identity.issuer} declared id_token: ${problem}` });
    }
    return subject;
  }

  async function verifyCached(token: string, label: TokenLabel): Promise<VerifiedSubject> {
    if (!cache.enabled || token.length > maxTokenBytes) return (await verifyFully(token, label)).subject;
    const digest = VerifiedTokenCache.digest(token);
    const cached = await cache.get(digest);
    options.onCacheLookup?.(cached !== undefined);
    if (cached !== undefined) return cached;
    const { subject, route } = await verifyFully(token, label);
    // Cached on its second verification only (the doorkeeper): a token seen once costs a fingerprint.
    if (cache.admit(digest, subject, route.keys, route.config.requireIat ? route.config.maxTokenAgeSeconds : undefined)) options.onCacheAdmission?.();
    return subject;
  }

  return {
    verify,
    ready: () => [...routes.values()].every((route) => route.keys.ready()),
    issuers: () => options.issuers.map((config) => ({ id: config.id, profile: config.profile })),
    describeIssuer: (iss) => {
      const config = routes.get(iss)?.config;
      return config === undefined ? undefined : { id: config.id, profile: config.profile };
    },
    keyAges: () =>
      [...routes.values()].map((route) => {
        const ageMs = route.keys.keysAgeMs();
        return { issuer: route.config.id, ageSeconds: ageMs === undefined ? undefined : ageMs / 1000 };
      }),
    warmUp: async () => {
      await Promise.all([...routes.values()].map((route) => route.keys.warmUp()));
    },
  };
}

/** Options for {@link loadTokenVerifier}: everything but the issuers, which come from the file. */
export type LoadTokenVerifierOptions = Omit<TokenVerifierOptions, "issuers">;

/** Loads the trusted-issuers file and builds the verifier over it (no network access). */
export async function loadTokenVerifier(file: string, options: LoadTokenVerifierOptions): Promise<TokenVerifier> {
  const issuers = await loadIssuerConfigs(file, options.brokerIssuer);
  return createTokenVerifier({ ...options, issuers });
}

function keySourceFor(config: IssuerConfig, options: TokenVerifierOptions, limits: RemoteJwksLimits): KeySource {
  const { keys } = config;
  if (keys.kind === "jwks_file") return new StaticKeySource(keys.jwks);
  const { fetch, clock, log } = options;
  const locate =
    keys.kind === "jwks_uri"
      ? () => Promise.resolve(keys.url)
      : (() => {
          const locator = new DiscoveryJwksLocator({
            issuer: config.issuer,
            fetch,
            clock,
            limits,
            maxAgeMs: limits.cacheMaxAgeMs,
            extraJwksOrigins: config.jwksUriOrigins,
            allowLoopbackHttp: options.allowLoopbackHttpJwksUri ?? false,
          });
          return () => locator.locate();
        })();
  return new RemoteJwksSource({
    issuerId: config.id,
    locate,
    fetch,
    clock,
    log,
    limits,
    spiffeBundle: config.profile === "spiffe",
    ...(options.onIssuerKeyRefused ? { onKeyRefused: options.onIssuerKeyRefused } : {}),
  });
}

/** What a full verification reads, made once by {@link createTokenVerifier}. */
interface VerifyContext {
  /** Each configured issuer by its exact `iss`. */
  readonly routes: ReadonlyMap<string, Route>;
  readonly maxTokenBytes: number;
  readonly brokerIssuer: string;
  readonly clock: Clock;
  /** The KeyObject of each issuer key, converted once. */
  readonly keyObjects: KeyObjects;
}

/**
 * The checks that cost nothing, before any key lookup: the JWS shape, not the broker's own
 * token, an issuer that is configured, and that issuer's algorithms and `typ`.
 */
function routeOf(token: string, label: TokenLabel, context: VerifyContext): { header: PrecheckedHeader; route: Route } {
  const { header, unverifiedIss } = precheckJws(token, { label, maxBytes: context.maxTokenBytes });
  if (sameIssuerUrl(unverifiedIss, context.brokerIssuer)) {
    throw new BrokerError("invalid_request", `tokens issued by this broker are exchanged with ${label}_type access_token`, {
      detail: `${label} carries the broker's own iss`,
    });
  }
  // Route by the unverified iss to exactly one issuer; unknown issuers cost no fetch.
  const route = context.routes.get(unverifiedIss);
  if (route === undefined) {
    throw new BrokerError("invalid_request", `${label} issuer is not trusted`, {
      detail: `${label} iss ${JSON.stringify(unverifiedIss.slice(0, 256))} is not configured`,
    });
  }
  const { config } = route;
  // RFC 8725 §3.1: each issuer is held to its own algorithm list, before any key lookup.
  if (!(config.algorithms as readonly string[]).includes(header.alg)) {
    throw new BrokerError("invalid_request", `${label} algorithm is not accepted`, {
      detail: `${label} from issuer ${config.id}: alg ${header.alg} not in [${config.algorithms.join(", ")}]`,
    });
  }
  // RFC 8725 §3.11: a token typed as something else (logout+jwt, secevent+jwt, dpop+jwt, …) is
  // no identity token, whoever signed it. Cheap, so before any key lookup.
  const typIssue = typProblem(header.typ, config.acceptedTyp);
  if (typIssue !== undefined) {
    throw new BrokerError("invalid_request", `${label} type is not accepted`, { detail: `${label} from issuer ${config.id}: ${typIssue}` });
  }
  return { header, route };
}

/** A full verification: route, signature and claims by the issuer's keys and rules, then its profile. */
async function verifyRouted(token: string, label: TokenLabel, context: VerifyContext): Promise<{ subject: VerifiedSubject; route: Route }> {
  const { header, route } = routeOf(token, label, context);
  const { config } = route;
  let payload: JWTPayload;
  try {
    payload = await verifySignatureAndClaims(token, route, header, context);
  } catch (error) {
    throw toBrokerError(error, label, config.id);
  }
  const problem = checkTimeClaims(payload, config, context.clock) ?? checkSubject(payload.sub);
  if (problem !== undefined) {
    throw new BrokerError("invalid_request", `${label} ${problem.description}`, {
      detail: `${label} from issuer ${config.id}: ${problem.detail}`,
    });
  }
  const profiled = normaliseIdentity(config, payload, header);
  if (!profiled.ok) {
    throw new BrokerError("invalid_request", `${label} claims do not fit the ${config.profile} profile`, {
      detail: `${label} from issuer ${config.id}: ${profiled.reason}`,
    });
  }
  const subject: VerifiedSubject = {
    identity: profiled.identity,
    claims: payload,
    expiresAt: payload.exp as number,
    issuedAt: typeof payload.iat === "number" ? payload.iat : undefined,
    tokenId: typeof payload.jti === "string" ? payload.jti : undefined,
    replayKey: config.replayProtection ? replayKey(config.id, token, payload.jti) : undefined,
    typ: typeof header.typ === "string" ? normalizeTyp(header.typ) : undefined,
  };
  return { subject, route };
}

/**
 * The signature and jose's claim checks, by jose's rules but with node:crypto
 * (`compact-jwt.ts`); jose's error classes come out, for jose-errors.ts to map.
 */
async function verifySignatureAndClaims(token: string, route: Route, header: PrecheckedHeader, context: VerifyContext): Promise<JWTPayload> {
  const { keys } = route;
  const rules: JwtRules = merged(route.rules, { now: epochSeconds(context.clock) });
  const getKey = (protectedHeader: ProtectedHeader): Promise<CryptoKey> =>
    keys.getKey({ alg: header.alg, kid: typeof protectedHeader.kid === "string" ? protectedHeader.kid : undefined });
  try {
    return await verifyCompactJwt(token, getKey, rules, context.keyObjects);
  } catch (error) {
    if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
    // No kid and several keys fit: try each candidate, bounded, as jose's docs prescribe.
    let lastError: unknown = error;
    let tried = 0;
    for await (const key of error) {
      if (++tried > MAX_KEY_CANDIDATES) break;
      try {
        return await verifyCompactJwt(token, key, rules, context.keyObjects);
      } catch (inner) {
        if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner;
        lastError = inner;
      }
    }
    throw lastError;
  }
}

/** jose's `jwtVerify` options as the broker always set them, made once per issuer. */
function jwtRulesFor(config: IssuerConfig): Omit<JwtRules, "now"> {
  return {
    issuer: config.issuer,
    audience: [...config.audiences],
    algorithms: new Set<string>(config.algorithms),
    clockTolerance: config.clockSkewSeconds,
    // jose only checks the time claims that are present: require exp so every accepted token
    // expires, and iat whenever max_token_age applies (else a future iat would pass).
    requiredClaims: ["exp", "iss", "sub", "aud", ...(config.requireIat ? ["iat"] : [])],
    ...(config.requireIat ? { maxTokenAge: config.maxTokenAgeSeconds } : {}),
  };
}

/**
 * The single-use key of a token: per issuer, by `jti` when there is one, else by a digest of the
 * signed part (header and payload; the signature is left out since ECDSA signatures are malleable).
 */
function replayKey(issuerId: string, token: string, jti: unknown): string {
  if (typeof jti === "string" && jti !== "" && jti.length <= 256) return `${issuerId}:jti:${jti}`;
  return `${issuerId}:sha256:${sha256Hex(token.slice(0, token.lastIndexOf(".")))}`;
}

function checkSubject(sub: unknown): { description: string; detail: string } | undefined {
  if (typeof sub !== "string" || sub === "") return { description: 'has an invalid "sub" claim', detail: "sub is not a non-empty string" };
  if (sub.length > MAX_SUBJECT_CHARS) return { description: '"sub" claim is too long', detail: `sub has ${sub.length} characters` };
  return undefined;
}
