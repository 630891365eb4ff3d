import { errors } from "jose";
import { BrokerError } from "../errors/broker-error.js";
import type { TokenLabel } from "./types.js";

/**
 * Turns a failure from jose into BrokerError `invalid_request` (RFC 8693 §2.2.2). The
 * description is safe for the caller (no key material, no token); the detail carries jose's
 * full reason and the issuer id for the audit record.
 */
export function toBrokerError(error: unknown, label: TokenLabel, issuerId: string): BrokerError {
  if (error instanceof BrokerError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  const fail = (description: string): BrokerError =>
    new BrokerError("invalid_request", `${label} ${description}`, {
      detail: `${label} from issuer ${issuerId}: ${reason}`,
      cause: error,
    });
  if (error instanceof errors.JWTExpired) {
    return fail(error.claim === "iat" ? "is too old" : "has expired");
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === "missing") return fail(`is missing the "${error.claim}" claim`);
    if (error.reason === "invalid") return fail(`has an invalid "${error.claim}" claim`);
    switch (error.claim) {
      case "aud":
        return fail("audience is not accepted");
      case "iss":
        return fail("issuer is not accepted");
      case "nbf":
        return fail("is not yet valid");
      case "iat":
        return fail("was issued in the future");
      default:
        return fail(`"${error.claim}" claim is not accepted`);
    }
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return fail("signature is invalid");
  if (error instanceof errors.JWKSNoMatchingKey) return fail("signing key is not published by its issuer");
  if (error instanceof errors.JWKSMultipleMatchingKeys) return fail("signature is invalid");
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return fail("algorithm is not accepted");
  }
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return fail("is malformed");
  // jose raises TypeError for unusable keys (e.g. an RSA modulus under 2048 bits, RFC 7518 §3.3).
  if (error instanceof errors.JOSEError || error instanceof TypeError) return fail("could not be verified");
  // Anything else is our bug, not the caller's token: let it become a generic server_error.
  return new BrokerError("server_error", { detail: `verifying ${label} from issuer ${issuerId}: ${reason}`, cause: error });
}
