import type { DecisionFacts } from "../audit/decision-facts.js";
import type { IssuanceRecord } from "../inventory/inventory-store.js";
import type { RecordIssuance } from "../inventory/issuance-recorder.js";

/**
 * Tells the inventory about a credential just issued, from the facts its decision established:
 * without waiting (the recorder returns at once and never throws). `underPolicy` false for a
 * re-exchange of a broker token: no policy decided it, so none is credited with what it carries.
 */
export function recordIssued(record: RecordIssuance | undefined, facts: DecisionFacts, issued: { readonly tokenType: string; readonly nowMs: number; readonly underPolicy: boolean }): void {
  if (record === undefined) return;
  const issuance = issuanceOf(facts, issued);
  if (issuance !== undefined) record(issuance);
}

function issuanceOf(facts: DecisionFacts, issued: { readonly tokenType: string; readonly nowMs: number; readonly underPolicy: boolean }): IssuanceRecord | undefined {
  const { workloadId, exp } = facts;
  if (workloadId === undefined || exp === undefined) return undefined;
  return {
    workloadId,
    policyId: issued.underPolicy ? facts.policy : undefined,
    issuer: issued.underPolicy ? facts.issuer : undefined,
    tokenType: issued.tokenType,
    audiences: facts.audience ?? [],
    scopes: facts.scope ? facts.scope.split(" ") : [],
    issuedAtMs: issued.nowMs,
    expiresAt: exp,
  };
}
