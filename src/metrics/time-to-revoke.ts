import type { ReadIssuanceState } from "../revocation/issuance-state.js";
import type { Clock } from "../lib/clock.js";
import { blockSource, statusOf } from "../revocation/store-rules.js";
import { aroundCalls, type CallLabels } from "../lib/around-calls.js";
import { STORE_CALLS, type IssuanceChecks, type RevocationSource, type RevocationStore } from "../revocation/revocation-store.js";
import type { BrokerMetrics } from "./broker-metrics.js";

/** Every store call passed straight through (null label), but the three replaced below. */
const UNTOUCHED = Object.fromEntries(Object.keys(STORE_CALLS).map((name) => [name, null])) as unknown as CallLabels<RevocationStore>;

/** How many revocations a replica remembers having already timed: beyond it the oldest is forgotten. */
const REMEMBERED_REVOCATIONS = 10_000;

/**
 * Times each revocation once per replica: from when it was recorded (the revoker's clock) to the
 * first refusal it causes here. The store's answers are the refusals: a revoked token (re-exchange,
 * actor, introspection, a caller's bearer token) and a block in force are always refused
 * (`authorization/revocation-checks.ts`, `verify-actor.ts`, `authenticate-caller.ts`,
 * `introspection/`). Clocks of different replicas differ a little; the figure carries that error.
 */
export class TimeToRevoke {
  private readonly timed = new Set<string>();

  constructor(
    private readonly metrics: BrokerMetrics,
    private readonly clock: Clock,
  ) {}

  /** Records the first refusal caused by `source` on this replica; later ones are not timed. */
  refused(cause: string, source: RevocationSource): void {
    if (this.timed.has(source.key)) return;
    if (this.timed.size >= REMEMBERED_REVOCATIONS) {
      // A Set iterates in insertion order: drop the oldest.
      const oldest = this.timed.values().next().value;
      if (oldest !== undefined) this.timed.delete(oldest);
    }
    this.timed.add(source.key);
    this.metrics.timeToRevoke.observe({ cause }, Math.max(0, this.clock.now() - source.atMs) / 1000);
  }

  /** `store`, timing every refusal its issuance checks answer; every answer is unchanged. */
  observing(store: RevocationStore): RevocationStore {
    const tokenRevocation: IssuanceChecks["tokenRevocation"] = async (token) => {
      const judgement = await store.tokenRevocation(token);
      if (judgement.cause !== undefined && judgement.revokedBy !== undefined) this.refused(judgement.cause, judgement.revokedBy);
      return judgement;
    };
    // Both stores answer tokenStatus as statusOf(tokenRevocation): the same read, now timed too
    // (an introspection or an admin caller answered "revoked" is a refusal like any other).
    const tokenStatus: RevocationStore["tokenStatus"] = async (token) => statusOf(await tokenRevocation(token));
    const activeBlock: IssuanceChecks["activeBlock"] = async (workloadId) => {
      const block = await store.activeBlock(workloadId);
      if (block !== undefined) this.refused("block", blockSource(block));
      return block;
    };
    return { kind: store.kind, ...aroundCalls(store, UNTOUCHED, (_label, call) => call()), tokenStatus, tokenRevocation, activeBlock };
  }

  /** The store's issuance read, timing the block refusals it answers as `observing` does activeBlock's. */
  observingIssuance(read: ReadIssuanceState): ReadIssuanceState {
    return async (query) => {
      const state = await read(query);
      if (state.block !== undefined) this.refused("block", blockSource(state.block));
      return state;
    };
  }
}
