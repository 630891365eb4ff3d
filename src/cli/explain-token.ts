import type { JWTPayload } from "jose";
import { BrokerError } from "../errors/broker-error.js";
import type { IssuerConfig } from "../identity/issuer-config.js";
import { precheckJws } from "../identity/jws-precheck.js";
import { normaliseIdentity } from "../identity/normalise-identity.js";
import { checkTimeClaims } from "../identity/time-claims.js";
import { createTokenVerifier } from "../identity/token-verifier.js";
import type { VerifiedSubject } from "../identity/types.js";
import { sameIssuerUrl } from "../identity/url-policy.js";
import type { Clock } from "../lib/clock.js";
import { globalHttpFetch } from "../lib/http-fetch.js";
import { decodeJsonObject } from "../lib/json-segment.js";
import type { Log } from "../lib/log.js";

/** The broker would refuse this token before any policy runs (exit code 2, like a denial). */
export class TokenRefused extends Error {}

/** The subject a token gives, and whether it was verified. */
export interface ExplainedSubject {
  readonly subject: VerifiedSubject;
  readonly verified: boolean;
  /** What a verification would have refused, when only decoded (its times, checked against `now`). */
  readonly warnings: readonly string[];
}

export interface SubjectOptions {
  readonly issuers: readonly IssuerConfig[];
  readonly brokerIssuer: string;
  readonly clock: Clock;
  /** Verify signature, audience and times with the issuer's keys, fetched as the broker fetches them. */
  readonly verify: boolean;
  /** Where key-fetch problems are told (stderr). */
  readonly log: Log;
}

/**
 * The subject `token` gives, as the broker's policies would see it. With `verify`, the broker's
 * own verifier does it (routing by `iss`, algorithms, keys from the issuer's JWKS, audience,
 * times, the profile). Without, the token is only decoded, its issuer found by its exact `iss`
 * and its claims normalised by that issuer's profile (the same function the verifier uses).
 * Never returns or throws the token itself.
 */
export async function subjectOf(token: string, options: SubjectOptions): Promise<ExplainedSubject> {
  if (options.verify) {
    const verifier = createTokenVerifier({
      issuers: options.issuers,
      brokerIssuer: options.brokerIssuer,
      clock: options.clock,
      fetch: globalHttpFetch,
      log: options.log,
      // One token, once: nothing to cache. Loopback http key URLs as a development broker allows them.
      verifiedTokenCache: { ttlSeconds: 0, maxEntries: 0 },
      allowLoopbackHttpJwksUri: process.env.NODE_ENV !== "production",
    });
    try {
      return { subject: await verifier.verify(token), verified: true, warnings: [] };
    } catch (error) {
      throw refusalOf(error);
    }
  }
  return decodeOnly(token, options);
}

/** Decodes without verifying: the issuer by exact `iss`, the identity by its profile; time problems become warnings. */
function decodeOnly(token: string, options: SubjectOptions): ExplainedSubject {
  let header: Readonly<Record<string, unknown>>;
  let iss: string;
  try {
    ({ header, unverifiedIss: iss } = precheckJws(token));
  } catch (error) {
    throw refusalOf(error);
  }
  const payload = decodeJsonObject(token.split(".")[1] ?? "") as JWTPayload;
  if (sameIssuerUrl(iss, options.brokerIssuer)) throw new TokenRefused("the token is the broker's own (exchanged as access_token, never judged by policy)");
  const config = options.issuers.find((candidate) => candidate.issuer === iss);
  if (config === undefined) throw new TokenRefused(`subject_token issuer is not trusted: iss ${JSON.stringify(iss.slice(0, 256))} is not in the issuers file`);
  if (typeof payload.sub !== "string" || payload.sub === "") throw new TokenRefused('subject_token has an invalid "sub" claim');
  const normalised = normaliseIdentity(config, payload, header);
  if (!normalised.ok) throw new TokenRefused(`subject_token claims do not fit the ${config.profile} profile: ${normalised.reason}`);
  const warnings = unverifiedProblems(payload, config, options.clock);
  const subject: VerifiedSubject = {
    identity: normalised.identity,
    claims: payload,
    expiresAt: typeof payload.exp === "number" ? payload.exp : 0,
    issuedAt: typeof payload.iat === "number" ? payload.iat : undefined,
    tokenId: typeof payload.jti === "string" ? payload.jti : undefined,
    replayKey: undefined,
  };
  return { subject, verified: false, warnings };
}

/**
 * What a verification would refuse in a token that was only decoded, checked against `clock`:
 * the claims jose checks (exp, nbf, iat age, aud) and the broker's own time rules. Warnings, not
 * refusals: decode-only is for looking at a token whose keys or time are not at hand.
 */
function unverifiedProblems(payload: JWTPayload, config: IssuerConfig, clock: Clock): string[] {
  const problems: string[] = [];
  const now = Math.floor(clock.now() / 1000);
  const skew = config.clockSkewSeconds;
  const times = checkTimeClaims(payload, config, clock);
  if (times !== undefined) problems.push(`subject_token ${times.description} (${times.detail})`);
  const { exp, nbf, iat, aud } = payload;
  if (typeof exp === "number" && exp + skew <= now) problems.push(`the token expired at ${isoTime(exp)}`);
  if (typeof nbf === "number" && nbf - skew > now) problems.push(`the token is not valid before ${isoTime(nbf)}`);
  if (config.requireIat && typeof iat === "number" && now - iat > config.maxTokenAgeSeconds + skew) {
    problems.push(`the token is older than the issuer's max_token_age (${config.maxTokenAgeSeconds} s; issued ${isoTime(iat)})`);
  }
  const audiences = typeof aud === "string" ? [aud] : Array.isArray(aud) ? aud : [];
  if (!audiences.some((value) => config.audiences.includes(value))) {
    problems.push(`its aud ${JSON.stringify(aud ?? null)} names none of the audiences issuer ${config.id} expects (${config.audiences.join(", ")})`);
  }
  return problems.map((problem) => `a verification would refuse it: ${problem}`);
}

function isoTime(seconds: number): string {
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? String(seconds) : date.toISOString();
}

/** A refusal from the verifier as explain reports it: its description and detail (neither holds the token). */
function refusalOf(error: unknown): Error {
  if (!(error instanceof BrokerError)) return error instanceof Error ? error : new Error(String(error));
  const text = error.detail === undefined ? error.description : `${error.description} (${error.detail})`;
  // Keys that cannot be had are no verdict on the token: explain could not decide (exit 1).
  return error.code === "temporarily_unavailable" ? new Error(`cannot verify: ${text}`) : new TokenRefused(text);
}
