import type { Context } from "hono";
import { DPOP_ALGS_PARAMETER } from "../dpop/algorithms.js";
import { BrokerError, type BrokerErrorCode, type BrokerErrorReason } from "../errors/broker-error.js";
import type { Log } from "../lib/log.js";
import type { AppEnv } from "./app-env.js";
import { jsonAnswer } from "./answer.js";

/** The status of each code (RFC 6749 §5.2, RFC 6750 §3.1, RFC 9449 §5), unless statusOf says otherwise. */
const STATUS_BY_CODE: Record<BrokerErrorCode, number> = {
  invalid_request: 400,
  invalid_client: 401,
  unsupported_grant_type: 400,
  unauthorized_client: 400,
  invalid_target: 400,
  invalid_scope: 400,
  invalid_token: 401,
  insufficient_scope: 403,
  // RFC 9449 §5, §8 at the token endpoint; at a bearer-protected endpoint 401 (§7.1, see statusOf).
  invalid_dpop_proof: 400,
  use_dpop_nonce: 400,
  not_found: 404,
  temporarily_unavailable: 503,
  server_error: 500,
};

/**
 * Refusals whose code is shared by answers of different statuses (src/errors/broker-error.ts).
 * RFC 6585 §4: a spent rate budget is 429, while `temporarily_unavailable` alone (a store or
 * limiter outage) stays 503; RFC 9110 §15.5.14, §15.5.16 for the body as a whole.
 */
const STATUS_BY_REASON: Record<BrokerErrorReason, number> = {
  rate_limited: 429,
  body_too_large: 413,
  unsupported_media_type: 415,
};

/**
 * The HTTP status of a refusal: its reason when it has one, else what the request itself says
 * about where it was refused, else its code's.
 */
function statusOf(error: BrokerError | undefined, c: Context<AppEnv>): number {
  if (error === undefined) return STATUS_BY_CODE.server_error;
  if (error.reason !== undefined) return STATUS_BY_REASON[error.reason];
  // RFC 6749 §5.2: 401 only for a client that tried an Authorization scheme, which the challenge
  // then names; client credentials in the body get 400, as there is no scheme to offer (RFC 9110 §15.5.2).
  if (error.code === "invalid_client") return c.get("clientAuthScheme") === undefined ? 400 : 401;
  // A token sent with the DPoP scheme (introspection, the admin API) makes this a protected resource.
  return statusOfCode(error.code, c.get("authScheme") === "DPoP");
}

/**
 * The status of a refusal code. RFC 9449 §7.1: at a protected resource (`atProtectedResource`: the
 * broker's bearer endpoints, or a resource server's middleware) a refused proof is 401 with a DPoP
 * challenge; at the token endpoint (§5) it is 400.
 */
export function statusOfCode(code: BrokerErrorCode, atProtectedResource = false): number {
  if (atProtectedResource && (code === "invalid_dpop_proof" || code === "use_dpop_nonce")) return 401;
  return STATUS_BY_CODE[code];
}

/** What the broker's challenges say (RFC 9110 §11.6.1). */
export interface ChallengeSettings {
  /** The protection space (RFC 9110 §11.5): the broker's issuer URL. */
  readonly realm: string;
  /** True when the broker's bearer endpoints accept the DPoP scheme (RFC 9449 §7.1). */
  readonly dpop: boolean;
}

/**
 * RFC 6749 §5.2 error JSON. A BrokerError keeps its safe description; anything else becomes a
 * bare `server_error` (logged in full, never sent to the caller).
 */
export function errorResponse(c: Context<AppEnv>, error: unknown, log: Log, challenges?: ChallengeSettings): Response {
  const known = error instanceof BrokerError ? error : undefined;
  if (!known) log.error({ err: error, requestId: c.get("requestId") }, "unexpected error");
  const code = known?.code ?? "server_error";
  const status = statusOf(known, c);
  const headers: Record<string, string> = {
    "Cache-Control": "no-store",
    Pragma: "no-cache",
  };
  if (code === "temporarily_unavailable") headers["Retry-After"] = String(known?.retryAfterSeconds ?? 5);
  // A body refused part-way is left unread: tell the client this connection will not carry
  // another request (RFC 9112 §9.6), or it reuses a socket the server is about to drop.
  if (status === 413) headers.Connection = "close";
  const challenge = wwwAuthenticate(code, status, c, challenges);
  if (challenge !== undefined) headers["WWW-Authenticate"] = challenge;
  // RFC 9449 §8, §8.2: when nonces are required, every /token answer (errors too) carries the current one.
  const nonce: unknown = c.get("dpopNonce");
  if (typeof nonce === "string") headers["DPoP-Nonce"] = nonce;
  const body = known ? { error: code, error_description: known.description } : { error: code };
  return jsonAnswer(c, body, status, headers);
}

/**
 * RFC 6749 §5.2: invalid_client over 401 carries the scheme the client tried. RFC 6750 §3: a
 * bearer-protected endpoint names the bearer error (invalid_token 401, insufficient_scope 403),
 * except when the request carried no credentials at all (§3.1: then no error code). RFC 9449
 * §7.1: a caller that used the DPoP scheme, or whose proof failed, gets a DPoP challenge with the
 * accepted algorithms; one that sent nothing is offered both schemes.
 */
function wwwAuthenticate(code: BrokerErrorCode, status: number, c: Context<AppEnv>, settings: ChallengeSettings | undefined): string | undefined {
  // RFC 9110 §11.5: the realm names the protection space; every challenge carries it.
  const realm = `realm="${settings?.realm ?? "broker"}"`;
  if (code === "invalid_client") {
    const scheme = c.get("clientAuthScheme");
    return status === 401 && scheme !== undefined ? `${scheme} ${realm}` : undefined;
  }
  if (status !== 401 && code !== "insufficient_scope") return undefined;
  const algs = `algs="${DPOP_ALGS_PARAMETER}"`;
  const authScheme = c.get("authScheme");
  if (authScheme === "none" && code === "invalid_token") {
    return settings?.dpop ? `Bearer ${realm}, DPoP ${realm}, ${algs}` : `Bearer ${realm}`;
  }
  const proofError = code === "invalid_dpop_proof" || code === "use_dpop_nonce";
  const error = `error="${code === "insufficient_scope" || code === "invalid_token" || proofError ? code : "invalid_client"}"`;
  return authScheme === "DPoP" || proofError ? `DPoP ${realm}, ${error}, ${algs}` : `Bearer ${realm}, ${error}`;
}
