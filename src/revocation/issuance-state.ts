import type { WorkloadBlock, WorkloadRevocation } from "./revocation-store.js";

/** What one issuance asks of the shared store: the workload's state, its first use, its budget. */
export interface IssuanceQuery {
  readonly workloadId: string;
  /** A single-use subject token's claim; undefined: the token is not single-use. */
  readonly replay: { readonly key: string; readonly expiresAt: number } | undefined;
  /** One request charged to the workload's budget; undefined: no limit (nothing charged). */
  readonly charge: BudgetCharge | undefined;
}

/**
 * A budget as the store charges it: GCRA (rate-limit/gcra.ts) with one request every `intervalMs`
 * sustained and up to `burst` at once, keyed by the workload (the limiter's own budget key).
 */
export interface BudgetCharge {
  readonly intervalMs: number;
  readonly burst: number;
}

/** What a charge answered: the limiter's RateDecision. */
export type ChargeOutcome = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterMs: number };

/** The store's answers for one issuance, read together (see ReadIssuanceState). */
export interface IssuanceState {
  /** The block in force on the workload, if any. */
  readonly block: WorkloadBlock | undefined;
  /** The revocation in force on the workload, if any: the credential is stamped after it. */
  readonly revocation: WorkloadRevocation | undefined;
  /** The charge to the workload's budget; undefined when the query made none. */
  readonly rate: ChargeOutcome | undefined;
  /**
   * False only when the single-use token was claimed before. A token is claimed only when the
   * charge was allowed (a refused request must not use it up); otherwise, and without one, true.
   */
  readonly firstUse: boolean;
}

/**
 * The workload's block, revocation, single-use claim and rate charge in one call and one round
 * trip to the store (Redis standalone or Sentinel: one Lua script). Where the store cannot read
 * them together (Redis Cluster: the keys live in different slots; the memory store) there is none,
 * and issuance asks the store and the limiter in turn (authorization/authorize.ts). Throws
 * StoreUnavailableError when the store cannot answer.
 */
export type ReadIssuanceState = (query: IssuanceQuery) => Promise<IssuanceState>;
