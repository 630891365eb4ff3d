import { createHash } from "node:crypto";
import { BrokerError } from "../errors/broker-error.js";

/** An RFC 7638 SHA-256 thumbprint, base64url: 43 characters. */
const JKT = /^[A-Za-z0-9_-]{43}$/;

/** RFC 9449 §4.2 `ath`: base64url SHA-256 of the access token's ASCII value. */
export function accessTokenHash(accessToken: string): string {
  return createHash("sha256").update(accessToken, "ascii").digest("base64url");
}

/**
 * The key a token is bound to (RFC 9449 §6.1 `cnf.jkt`), or undefined for a bearer token. A `cnf`
 * that is present but not `{ jkt: <thumbprint> }` is refused, never read as "unbound": ignoring a
 * binding would turn a sender-constrained token into a bearer one.
 */
export function boundJkt(claims: { readonly cnf?: unknown }, label = "token"): string | undefined {
  const { cnf } = claims;
  if (cnf === undefined) return undefined;
  const jkt = typeof cnf === "object" && cnf !== null && !Array.isArray(cnf) ? (cnf as Record<string, unknown>).jkt : undefined;
  if (typeof jkt !== "string" || !JKT.test(jkt)) {
    throw new BrokerError("invalid_request", `${label} carries a malformed cnf claim`, { detail: "cnf is not { jkt: <SHA-256 thumbprint> }" });
  }
  return jkt;
}

/**
 * A token bound to a DPoP key may only be used with a proof made with that key (RFC 9449 §5:
 * "the binding MUST be validated"), or a stolen bound token could be exchanged for an unbound one.
 * Throws BrokerError `invalid_request` (the token, not the proof, is what cannot be used).
 */
export function checkBinding(bound: string | undefined, proofJkt: string | undefined, label: "subject_token" | "actor_token"): void {
  if (bound === undefined) return;
  if (proofJkt === undefined) {
    throw new BrokerError("invalid_request", `${label} is DPoP-bound: send a DPoP proof made with its key`, { detail: `${label} bound to ${bound}, no DPoP proof` });
  }
  if (proofJkt !== bound) {
    throw new BrokerError("invalid_request", `${label} is bound to a different DPoP key`, { detail: `${label} bound to ${bound}, proof key ${proofJkt}` });
  }
}

/** RFC 7800 §3 confirmation members this broker names when it refuses them (others: "unknown"). */
const KNOWN_CONFIRMATION_METHODS = new Set(["jwk", "jwe", "jku", "kid", "x5t#S256", "osc"]);

/**
 * The DPoP key an external token (one the broker did not mint: a subject or actor token from a
 * trusted issuer) is bound to, or undefined for a bearer token. RFC 7800 §3: a token with `cnf` is
 * only usable by whoever proves possession of the confirmation key, so a binding this broker
 * cannot verify is refused, never ignored (ignoring it would turn a key-bound token into a bearer
 * token, and the issued one with it):
 *
 * - `{ jkt }` (RFC 9449 §6.1): accepted; the request must carry a DPoP proof by that key.
 * - `x5t#S256` (RFC 8705 §3.1): proof is a TLS client certificate, and this broker does no mutual TLS.
 * - any other member (`jwk`, `jwe`, `jku`, `kid`, unknown), several members, or a malformed value.
 *
 * Each refusal is `invalid_request`: RFC 8693 §2.2.2 names that code for a subject_token or
 * actor_token that is "invalid for any reason" or unacceptable; `invalid_grant` is not one of its
 * token-exchange errors.
 */
export function externalBoundJkt(claims: Readonly<Record<string, unknown>>, label: "subject_token" | "actor_token"): string | undefined {
  const { cnf } = claims;
  if (cnf === undefined) return undefined;
  if (typeof cnf !== "object" || cnf === null || Array.isArray(cnf)) {
    throw new BrokerError("invalid_request", `${label} carries a malformed cnf claim`, { detail: "cnf is not a JSON object" });
  }
  const methods = Object.keys(cnf);
  if (methods.includes("x5t#S256")) {
    throw new BrokerError("invalid_request", `${label} is bound to a TLS client certificate (cnf x5t#S256, RFC 8705), which this broker cannot verify`, {
      detail: `cnf members: ${methods.slice(0, 8).join(", ")}`,
    });
  }
  const other = methods.find((method) => method !== "jkt");
  if (other !== undefined) {
    const named = KNOWN_CONFIRMATION_METHODS.has(other) ? `cnf ${other}` : "an unknown cnf member";
    throw new BrokerError("invalid_request", `${label} is bound by a confirmation method this broker cannot verify (${named}); only cnf jkt (DPoP) is supported`, {
      detail: `cnf members: ${methods.slice(0, 8).map((method) => JSON.stringify(method.slice(0, 32))).join(", ")}`,
    });
  }
  return boundJkt({ cnf }, label);
}
