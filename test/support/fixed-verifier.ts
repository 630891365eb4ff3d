import { BrokerError } from "../../src/errors/broker-error.js";
import type { SubjectTokenVerifier, TokenLabel, VerifiedSubject } from "../../src/identity/types.js";

/**
 * A verifier that accepts exactly the subjects it was given, keyed by token text: for use-case
 * tests where verification is not the point (test/identity/ verifies real tokens).
 */
export class FixedVerifier implements SubjectTokenVerifier {
  constructor(private readonly subjects: Record<string, VerifiedSubject>) {}
  async verify(token: string, label: TokenLabel = "subject_token"): Promise<VerifiedSubject> {
    const found = this.subjects[token];
    if (!found) throw new BrokerError("invalid_request", `${label} is not acceptable`);
    return found;
  }
  ready(): boolean {
    return true;
  }
}
