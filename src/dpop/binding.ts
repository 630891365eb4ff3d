import { createHash } from "node:crypto";
import { BrokerError } from "../errors.js";

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
