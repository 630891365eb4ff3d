import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from "jose";
import { ACCESS_TOKEN_CLAIMS, ACCESS_TOKEN_TYP, BROKER_SIGNING_ALGORITHMS, type AccessTokenClaims } from "../protocol/broker-tokens.js";
import { BrokerError } from "../errors/broker-error.js";
import { authorizationCredential } from "../protocol/authorization-header.js";
import { scopesOf } from "../protocol/scope.js";
import { systemClock, type Clock } from "../lib/clock.js";
import { boundJkt } from "./binding.js";
import { normalizeHttpUri } from "./htu.js";
import { MemoryDpopReplayCache, ReplayCacheFullError, type DpopReplayCache } from "./replay-cache.js";
import { createDpopProofVerifier, DEFAULT_PROOF_WINDOW_SECONDS, type DpopProofVerifier } from "./verify-proof.js";

/** How a resource server accepts the broker's access tokens. Validated once, when the verifier is built. */
export interface ResourceServerOptions {
  /** The broker's issuer URL (`iss` of its tokens); its keys are read from `<issuer>/.well-known/jwks.json`. */
  readonly issuer: string;
  /** This resource server's audience: a token must name it in `aud`. */
  readonly audience: string;
  /**
   * This server's public base URL as clients call it (scheme, host, port, and any path prefix a
   * proxy strips): a proof's `htu` must be it plus the request path. Never taken from the Host header.
   */
  readonly publicUrl: string;
  /** Scopes every request must carry (insufficient_scope otherwise); default none. */
  readonly requiredScopes?: readonly string[];
  /** Accept unbound tokens as `Authorization: Bearer` (default true). A DPoP-bound token is never accepted as Bearer. */
  readonly allowBearer?: boolean;
  /** How far a proof's `iat` may lie from now, either side, seconds (default 60). */
  readonly proofWindowSeconds?: number;
  /** Remembers accepted proofs (default: a bounded in-memory cache, right for one process only). */
  readonly replayCache?: DpopReplayCache;
  /**
   * Revocation: ask the broker's /introspect about every token (no cache: a revocation holds from the
   * broker's next answer). `credential` is a broker token with the introspection scope, sent as Bearer.
   */
  readonly introspection?: {
    readonly url: string;
    readonly credential: () => string | Promise<string>;
    /** Bound on one introspection call (default 2000 ms); past it the request is refused (temporarily_unavailable). */
    readonly timeoutMs?: number;
  };
  /** The broker's keys (default: jose's remote JWKS on the issuer, cached and refreshed by jose). */
  readonly keys?: JWTVerifyGetKey;
  /** For introspection (default: global fetch). */
  readonly fetch?: typeof fetch;
  readonly clock?: Clock;
}

/** Claims of a broker access token that passed every check. */
export type BrokerAccessClaims = AccessTokenClaims;

/** An accepted request: the token's claims, and the key it is bound to when it is DPoP-bound. */
export interface VerifiedAccess {
  readonly claims: BrokerAccessClaims;
  readonly scopes: readonly string[];
  readonly jkt: string | undefined;
}

/**
 * Why a request is refused, as RFC 6750 §3 / RFC 9449 §7.1 name it; `detail` is for the server's
 * log only. The HTTP answer (status, challenge) is src/http/resource-server.ts's to decide.
 */
export interface RefusedAccess {
  readonly error: "invalid_request" | "invalid_token" | "insufficient_scope" | "invalid_dpop_proof" | "temporarily_unavailable";
  readonly description: string;
  readonly detail: string;
  /** The scheme the client used, when it could be told: the challenge that carries the error. */
  readonly scheme: Scheme | undefined;
}

export type AccessDecision = { readonly ok: true; readonly access: VerifiedAccess } | { readonly ok: false; readonly refusal: RefusedAccess };

/** What the verifier reads of one HTTP request. */
export interface AccessRequest {
  readonly authorization: string | undefined;
  readonly dpop: string | undefined;
  readonly method: string;
  /** The path the request was received at (the query is not part of `htu`). */
  readonly path: string;
}

type Scheme = "Bearer" | "DPoP";
type Refusal = { readonly ok: false; readonly refusal: RefusedAccess };

const DEFAULT_INTROSPECTION_TIMEOUT_MS = 2_000;

const refuse = (error: RefusedAccess["error"], description: string, detail: string, scheme: Scheme | undefined): Refusal => ({
  ok: false,
  refusal: { error, description, detail, scheme },
});

/** The options, checked and completed once, when the verifier is built. */
interface AccessSettings {
  readonly publicUrl: string;
  readonly issuer: string;
  readonly audience: string;
  readonly keys: JWTVerifyGetKey;
  readonly clock: Clock;
  readonly allowBearer: boolean;
  readonly requiredScopes: readonly string[];
  readonly proofs: DpopProofVerifier;
  readonly introspection: ResourceServerOptions["introspection"];
  readonly fetch: typeof fetch;
}

function settingsOf(options: ResourceServerOptions): AccessSettings {
  const publicUrl = options.publicUrl.replace(/\/+$/, "");
  if (normalizeHttpUri(publicUrl) === undefined) throw new Error("resource server: publicUrl must be an absolute http(s) URL (RFC 3986)");
  if (!URL.canParse(options.issuer)) throw new Error("resource server: issuer must be an absolute URL");
  if (options.audience === "") throw new Error("resource server: audience is required");
  const clock = options.clock ?? systemClock;
  const issuer = options.issuer.replace(/\/+$/, "");
  const replayCache = options.replayCache ?? new MemoryDpopReplayCache({ clock });
  return {
    publicUrl,
    issuer,
    audience: options.audience,
    keys: options.keys ?? createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`)),
    clock,
    allowBearer: options.allowBearer ?? true,
    requiredScopes: [...(options.requiredScopes ?? [])],
    proofs: createDpopProofVerifier({
      clock,
      windowSeconds: options.proofWindowSeconds ?? DEFAULT_PROOF_WINDOW_SECONDS,
      claimOnce: async (key, expiresAt) => replayCache.claim(key, expiresAt),
    }),
    introspection: options.introspection,
    fetch: options.fetch ?? fetch,
  };
}

/**
 * Decides whether a request may reach a resource protected by the broker's tokens (a denial is a
 * value): the token (signed by a published broker key with that key's algorithm, `typ` at+jwt, `iss`, `aud`, alive), its
 * sender constraint (RFC 9449 §7.1, §7.2: a bound token only with the DPoP scheme and a valid proof
 * of its key, carrying `ath`; an unbound one only as Bearer), the scopes, then revocation through
 * introspection when configured.
 */
export function createResourceAccessVerifier(options: ResourceServerOptions): (request: AccessRequest) => Promise<AccessDecision> {
  const settings = settingsOf(options);
  return async function verifyAccess(request) {
    const credential = readCredential(request.authorization, settings.allowBearer);
    if (!credential.ok) return credential;
    const { token, scheme } = credential;
    const verified = await verifyToken(settings, token, scheme);
    if (!verified.ok) return verified;
    const { claims, jkt } = verified;
    const unconstrained = await checkSenderConstraint(settings, request, { token, scheme, claims, jkt });
    if (unconstrained !== undefined) return unconstrained;
    const scopes = scopesOf(claims.scope);
    const missing = settings.requiredScopes.filter((scope) => !scopes.includes(scope));
    if (missing.length > 0) return refuse("insufficient_scope", "the access token lacks a required scope", `missing ${missing.join(" ")}`, scheme);
    const inactive = await checkActive(settings, token, claims, scheme);
    if (inactive !== undefined) return inactive;
    return { ok: true, access: { claims, scopes, jkt } };
  };
}

/** RFC 6750 §2.1, RFC 9449 §7.1: the token of an `Authorization: Bearer|DPoP` header, with its scheme. */
function readCredential(header: string | undefined, allowBearer: boolean): { ok: true; token: string; scheme: Scheme } | Refusal {
  if (header === undefined) return refuse("invalid_token", "an access token is required", "no Authorization header", undefined);
  const credential = authorizationCredential(header);
  if (credential === undefined) return refuse("invalid_request", "the Authorization header is malformed", "neither Bearer nor DPoP credentials", undefined);
  const { token, scheme } = credential;
  if (scheme === "Bearer" && !allowBearer) return refuse("invalid_token", "this resource accepts DPoP-bound tokens only", "Bearer scheme refused", "Bearer");
  return { ok: true, token, scheme };
}

/** The token itself: signature, type, issuer, audience, lifetime, and a well-formed `cnf`. */
async function verifyToken(settings: AccessSettings, token: string, scheme: Scheme): Promise<{ ok: true; claims: BrokerAccessClaims; jkt: string | undefined } | Refusal> {
  let claims: BrokerAccessClaims;
  try {
    ({ payload: claims } = (await jwtVerify(token, settings.keys, {
      issuer: settings.issuer,
      audience: settings.audience,
      // Any algorithm a broker key may have, but only with a key that has it: every key in the
      // broker's JWKS carries its `alg`, and jose's key set picks no key whose `alg` (or type)
      // differs from the header's (RFC 8725 §3.1), so an ES256 token never meets an RSA key.
      algorithms: [...BROKER_SIGNING_ALGORITHMS],
      typ: ACCESS_TOKEN_TYP,
      currentDate: new Date(settings.clock.now()),
      requiredClaims: [...ACCESS_TOKEN_CLAIMS],
    })) as { payload: BrokerAccessClaims });
  } catch (error) {
    return refuse("invalid_token", "the access token is not valid", error instanceof Error ? error.message : String(error), scheme);
  }
  try {
    return { ok: true, claims, jkt: boundJkt(claims) };
  } catch {
    return refuse("invalid_token", "the access token is not valid", "malformed cnf claim", scheme);
  }
}

/** RFC 9449 §7.1, §7.2: a bound token only with the DPoP scheme and a proof of its key; an unbound one only as Bearer. */
async function checkSenderConstraint(
  settings: AccessSettings,
  request: AccessRequest,
  presented: { token: string; scheme: Scheme; claims: BrokerAccessClaims; jkt: string | undefined },
): Promise<Refusal | undefined> {
  const { token, scheme, claims, jkt } = presented;
  if (scheme === "Bearer") {
    if (jkt === undefined) return undefined;
    return refuse("invalid_token", "a DPoP-bound token must be sent with the DPoP scheme and a proof", `token ${claims.jti} is bound to ${jkt}`, "Bearer");
  }
  if (jkt === undefined) return refuse("invalid_token", "the token is not DPoP-bound: send it with the Bearer scheme", `token ${claims.jti} has no cnf`, "DPoP");
  if (request.dpop === undefined) return refuse("invalid_dpop_proof", "a DPoP proof is required", "no DPoP header", "DPoP");
  try {
    const proof = await settings.proofs.verify(request.dpop, { method: request.method, url: `${settings.publicUrl}${request.path}`, accessToken: token });
    if (proof.jkt !== jkt) return refuse("invalid_token", "invalid DPoP key binding", `token bound to ${jkt}, proof key ${proof.jkt}`, "DPoP");
  } catch (error) {
    if (error instanceof ReplayCacheFullError) return refuse("temporarily_unavailable", "try again shortly", error.message, "DPoP");
    if (error instanceof BrokerError && error.code === "invalid_dpop_proof") return refuse("invalid_dpop_proof", error.description, error.detail ?? error.description, "DPoP");
    throw error;
  }
  return undefined;
}

/** Revocation, when introspection is configured; fails closed: a revocation nobody could check is not a pass. */
async function checkActive(settings: AccessSettings, token: string, claims: BrokerAccessClaims, scheme: Scheme): Promise<Refusal | undefined> {
  if (settings.introspection === undefined) return undefined;
  let active: boolean;
  try {
    active = await isActive(settings.fetch, settings.introspection, token);
  } catch (error) {
    return refuse("temporarily_unavailable", "token status could not be checked; retry shortly", error instanceof Error ? error.message : String(error), scheme);
  }
  if (active) return undefined;
  return refuse("invalid_token", "the access token is not active", `token ${claims.jti} is inactive at the broker (revoked)`, scheme);
}

/** RFC 7662 at the broker: true only for `{"active": true}` in a 200 answer. */
async function isActive(fetchImpl: typeof fetch, introspection: NonNullable<ResourceServerOptions["introspection"]>, token: string): Promise<boolean> {
  const res = await fetchImpl(introspection.url, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      accept: "application/json",
      authorization: `Bearer ${await introspection.credential()}`,
    },
    body: new URLSearchParams({ token, token_type_hint: "access_token" }).toString(),
    signal: AbortSignal.timeout(introspection.timeoutMs ?? DEFAULT_INTROSPECTION_TIMEOUT_MS),
  });
  const body: unknown = await res.json().catch(() => undefined);
  if (res.status !== 200 || typeof body !== "object" || body === null) throw new Error(`introspection answered ${res.status}`);
  return (body as Record<string, unknown>).active === true;
}
