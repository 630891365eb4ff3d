import { checkBinding, externalBoundJkt } from "../dpop/binding.js";
import { BrokerError } from "../errors/broker-error.js";
import type { SubjectTokenVerifier } from "../identity/types.js";

/**
 * The subject-token verifier of one request, which also holds an external token bound to a key
 * (`cnf`, RFC 7800) to that key: `{ jkt }` needs the request's DPoP proof to be made with it
 * (RFC 9449 §6.1, the issued token is then bound to the same key), any other binding is refused
 * (`externalBoundJkt`). Runs right after verification, before policy and before a single-use token
 * is claimed, so a refused request does not use the token up.
 */
export function requireKeyProof(verifier: SubjectTokenVerifier, proofJkt: string | undefined): SubjectTokenVerifier {
  return {
    ready: () => verifier.ready(),
    async verify(token, label = "subject_token", tokenType) {
      const verified = await verifier.verify(token, label, tokenType);
      checkBinding(externalBoundJkt(verified.claims, label), proofJkt, label);
      return verified;
    },
  };
}

/** For endpoints that take no DPoP proof (/svid/x509): a key-bound subject token cannot be proven there, so it is refused. */
export function refuseKeyBound(verifier: SubjectTokenVerifier): SubjectTokenVerifier {
  return {
    ready: () => verifier.ready(),
    async verify(token, label = "subject_token", tokenType) {
      const verified = await verifier.verify(token, label, tokenType);
      if (externalBoundJkt(verified.claims, label) !== undefined) {
        throw new BrokerError("invalid_request", `${label} is bound to a DPoP key (cnf jkt), and this endpoint takes no DPoP proof`);
      }
      return verified;
    },
  };
}
