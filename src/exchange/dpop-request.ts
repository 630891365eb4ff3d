import type { VerifiedDpopProof } from "../dpop/verify-proof.js";
import { BrokerError } from "../errors/broker-error.js";
import type { Grant } from "../policy/types.js";
import type { TokenExchangeRequest } from "./token-request.js";

/** Verifies the `DPoP` header of a /token request: method POST, htu the token endpoint (RFC 9449 §5). */
export type VerifyTokenRequestProof = (proof: string) => Promise<VerifiedDpopProof>;

/**
 * The DPoP proof of a token request, checked before anything else (RFC 9449 §5: an invalid proof
 * is `invalid_dpop_proof` whatever the rest of the request). A JWT-SVID has no `cnf` (JWT-SVID §3):
 * asking for one with a proof is refused rather than answered with an unbound credential the
 * client meant to have bound.
 */
export async function verifyRequestProof(verify: VerifyTokenRequestProof | undefined, proof: string, request: TokenExchangeRequest): Promise<VerifiedDpopProof> {
  if (request.requestedTokenType === "jwt") {
    throw new BrokerError("invalid_request", "a JWT-SVID cannot be DPoP-bound: omit the DPoP header, or ask for an access token");
  }
  if (verify === undefined) throw new BrokerError("invalid_dpop_proof", "this broker does not accept DPoP proofs");
  return verify(proof);
}

/** A grant with `require_dpop` issues bound tokens only: a request without a proof is refused. */
export function checkRequireDpop(grant: Grant, proof: VerifiedDpopProof | undefined): void {
  if (grant.requireDpop && proof === undefined) {
    throw new BrokerError("invalid_request", "a DPoP proof is required for this token (RFC 9449): send a DPoP header", {
      detail: `policy ${grant.policyId} has require_dpop; the request has no DPoP proof`,
    });
  }
}
