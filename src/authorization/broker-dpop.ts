import { randomBytes } from "node:crypto";
import type { Clock } from "../lib/clock.js";
import type { SingleUseClaims } from "../revocation/revocation-store.js";
import { guard } from "../revocation/store-guard.js";
import { normalizeHttpUri } from "../dpop/htu.js";
import { createDpopNonces, type DpopNonces } from "../dpop/nonce.js";
import { createDpopProofVerifier, type DpopProofVerifier, type VerifiedDpopProof } from "../dpop/verify-proof.js";

/** The broker's DPoP parts (RFC 9449), built once at start from its settings. */
export interface BrokerDpop {
  /** A /token proof: method POST, `htu` the token endpoint under the issuer URL, a nonce when required. */
  readonly verifyTokenRequestProof: (proof: string) => Promise<VerifiedDpopProof>;
  /** Proofs at the broker's bearer endpoints (/introspect, /admin/): no nonce there. */
  readonly resourceProofs: DpopProofVerifier;
  /** The nonces /token requires and hands out; undefined: not required. */
  readonly nonces: DpopNonces | undefined;
  /** Nonces are required but derived from a secret of this process alone: other replicas refuse them. */
  readonly ephemeralNonceSecret: boolean;
}

export interface BrokerDpopOptions {
  /** BROKER_ISSUER_URL: the public base URL, so `htu` holds behind a proxy (never the Host header). */
  readonly issuerUrl: string;
  /** Proof `jti`s are claimed here: with Redis, a proof used on one replica is refused by every other. */
  readonly revocations: SingleUseClaims;
  readonly clock: Clock;
  readonly proofWindowSeconds: number;
  readonly nonce: "off" | "required";
  readonly nonceSecret: string | undefined;
}

export function createBrokerDpop(options: BrokerDpopOptions): BrokerDpop {
  // A store outage is a 503 (fail closed), never an unchecked proof.
  const claimOnce = (key: string, expiresAt: number) => guard(options.revocations.claimOnce(key, expiresAt));
  const base = { clock: options.clock, windowSeconds: options.proofWindowSeconds, claimOnce };
  const nonces =
    options.nonce === "required" ? createDpopNonces({ secret: options.nonceSecret ?? randomBytes(32), clock: options.clock }) : undefined;
  const tokenProofs = createDpopProofVerifier({ ...base, ...(nonces ? { nonces } : {}) });
  const tokenEndpoint = `${options.issuerUrl}/token`;
  // RFC 9449 §4.3 check 9 compares RFC 3986 URIs: an issuer URL that is not one would match no proof.
  if (normalizeHttpUri(tokenEndpoint) === undefined) throw new Error("BROKER_ISSUER_URL must be an absolute RFC 3986 http(s) URI (DPoP htu)");
  return {
    verifyTokenRequestProof: (proof) => tokenProofs.verify(proof, { method: "POST", url: tokenEndpoint }),
    resourceProofs: createDpopProofVerifier(base),
    nonces,
    ephemeralNonceSecret: nonces !== undefined && options.nonceSecret === undefined,
  };
}
