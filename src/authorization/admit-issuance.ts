import { intervalMs, type RateLimit } from "../rate-limit/rate-limiter.js";
import type { ReadIssuanceState } from "../revocation/issuance-state.js";
import { guard } from "../revocation/store-guard.js";
import type { IssuanceChecks } from "../revocation/revocation-store.js";
import type { AdmitWorkload, JudgeWorkloadCharge } from "./rate-limit-gate.js";
import { checkIssuance, judgeIssuance, type IssuanceFloor } from "./revocation-checks.js";

/** What an issuance asks the store: its workload and, for a single-use subject token, the claim. */
export interface IssuanceCheck {
  readonly workloadId: string;
  readonly replay: { readonly key: string; readonly expiresAt: number } | undefined;
}

/**
 * The store's say on an issuance together with the workload's rate charge: the floor the
 * credential is stamped after, or a refusal (BrokerError). Built where the store reads them in one
 * round trip (admitInOneTrip); else the limiter and the store are asked in turn (admitInTurn).
 */
export type AdmitIssuance = (check: IssuanceCheck) => Promise<IssuanceFloor>;

/**
 * The limiter and the store asked in turn (the memory store, Redis Cluster): the charge and the
 * checks in one round trip, or, for a single-use token, the charge first, since a refused request
 * must not use up the token. A block or a store outage outranks the limit.
 */
export async function admitInTurn(deps: { readonly revocations: IssuanceChecks; readonly admitWorkload?: AdmitWorkload | undefined }, check: IssuanceCheck): Promise<IssuanceFloor> {
  if (deps.admitWorkload === undefined) return checkIssuance(deps.revocations, check);
  if (check.replay !== undefined) {
    await deps.admitWorkload(check.workloadId);
    return checkIssuance(deps.revocations, check);
  }
  const [limit, store] = await Promise.allSettled([deps.admitWorkload(check.workloadId), checkIssuance(deps.revocations, check)]);
  if (store.status === "rejected") throw store.reason;
  if (limit.status === "rejected") throw limit.reason;
  return store.value;
}

/**
 * AdmitIssuance from one read of the store (ReadIssuanceState). Judged as when the limiter and the
 * store are asked in turn: a block outranks a spent single-use token, which outranks the limit; a
 * store outage is `temporarily_unavailable` (503). The token is claimed only when the charge is
 * allowed, so a refused request never uses it up.
 */
export function admitInOneTrip(read: ReadIssuanceState, workloadLimit: RateLimit | undefined, judgeCharge: JudgeWorkloadCharge): AdmitIssuance {
  const charge = workloadLimit === undefined ? undefined : { intervalMs: intervalMs(workloadLimit), burst: workloadLimit.burst };
  return async (check) => {
    const state = await guard(read({ workloadId: check.workloadId, replay: check.replay, charge }));
    const floor = judgeIssuance(state, check);
    if (state.rate !== undefined) judgeCharge(state.rate);
    return floor;
  };
}
