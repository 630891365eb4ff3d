import type { AuditSink } from "../audit/audit-event.js";
import { BrokerError } from "../errors/broker-error.js";
import { clientBucket } from "../rate-limit/client-key.js";
import { RateLimiterUnavailableError, type LimitKind, type RateDecision, type RateLimit, type RateLimiter } from "../rate-limit/rate-limiter.js";

/** The endpoints that issue credentials, and so are rate limited. */
export type LimitedEndpoint = "/token" | "/svid/x509";

/** Charges a request to its client address before anything in it is read. Throws BrokerError. */
export type AdmitClient = (request: { readonly clientAddress: string; readonly requestId: string; readonly endpoint: LimitedEndpoint }) => Promise<void>;

/** Charges an issuance to the verified workload before anything is signed or claimed. Throws BrokerError. */
export type AdmitWorkload = (workloadId: string) => Promise<void>;

/**
 * The workload's charge made elsewhere (with the store's issuance read, authorization/admit-issuance.ts),
 * judged as admitWorkload judges its own: throws the same refusal, counts it the same.
 */
export type JudgeWorkloadCharge = (decision: RateDecision) => void;

/** The refusal of a request over `limit`: 429 with Retry-After (see createRateLimitGate). */
function refusal(kind: LimitKind, limit: RateLimit, retryAfterSeconds: number): BrokerError {
  return new BrokerError("temporarily_unavailable", `${DESCRIPTIONS[kind]}; retry after ${retryAfterSeconds} s`, {
    reason: "rate_limited",
    retryAfterSeconds,
    detail: `rate_limited: ${kind} limit ${limit.text}`,
  });
}

/** Undefined when allowed; else Retry-After in whole seconds (at least 1), the refusal counted. */
function judgedDecision(kind: LimitKind, decision: RateDecision, onLimited: ((kind: LimitKind) => void) | undefined): { retryAfterSeconds: number } | undefined {
  if (decision.allowed) return undefined;
  onLimited?.(kind);
  return { retryAfterSeconds: Math.max(1, Math.ceil(decision.retryAfterMs / 1000)) };
}

/** Seconds a caller should wait when the limiter itself cannot answer. */
const UNAVAILABLE_RETRY_AFTER_SECONDS = 2;

const DESCRIPTIONS: Record<LimitKind, string> = {
  client: "rate limit exceeded for this client address",
  workload: "rate limit exceeded for this workload",
};

export interface RateLimitGateDeps {
  readonly limiter: RateLimiter;
  /** Undefined: that limit is off (no limiter call at all). */
  readonly client: RateLimit | undefined;
  readonly workload: RateLimit | undefined;
  /** Client refusals are recorded here (workload refusals land in the decision record). */
  readonly audit: AuditSink;
  /** Called once per refusal (the metric). */
  readonly onLimited?: (kind: LimitKind) => void;
}

/**
 * The two rate-limit checks of issuance. A refusal is `temporarily_unavailable` with reason
 * `rate_limited` (answered 429 by src/http/error-response.ts) and Retry-After (whole seconds, at
 * least 1, from the budget's state). RFC 6749 has no code for "too many requests"; `slow_down`
 * (RFC 8628 §3.5) is a 400 that only device-flow polling understands, while
 * `temporarily_unavailable` says "retry later" to any OAuth client.
 *
 * When the limiter cannot answer, issuance fails closed: the workload check refuses with
 * `temporarily_unavailable` and no reason (503), as for a revocation store outage, and nothing is issued. The client
 * check is only the cheap early refusal: when it cannot answer, the request goes on to the checks
 * that need the same Redis anyway (the workload limit, block and replay checks), which fail closed
 * with the request's own audit record. An outage thus never lets a credential through unchecked,
 * and every refused exchange is still audited with its token digest.
 */
export function createRateLimitGate(deps: RateLimitGateDeps): {
  admitClient: AdmitClient;
  admitWorkload: AdmitWorkload;
  /** The per-workload limit (undefined: off), for a charge made elsewhere; and how that charge is judged. */
  workloadLimit: RateLimit | undefined;
  judgeWorkloadCharge: JudgeWorkloadCharge;
} {
  const judged = (kind: LimitKind, decision: RateDecision) => judgedDecision(kind, decision, deps.onLimited);
  /** Undefined when allowed; throws RateLimiterUnavailableError when the limiter cannot answer. */
  const check = async (kind: LimitKind, id: string, limit: RateLimit): Promise<{ retryAfterSeconds: number } | undefined> =>
    judged(kind, await deps.limiter.take({ kind, id }, limit));

  const { client, workload } = deps;
  return {
    admitClient: async (request) => {
      if (client === undefined) return;
      let limited;
      try {
        limited = await check("client", clientBucket(request.clientAddress), client);
      } catch (error) {
        // Deferred, not waived: see above. The workload and store checks need the same Redis.
        if (error instanceof RateLimiterUnavailableError) return;
        throw error;
      }
      if (limited === undefined) return;
      const error = refusal("client", client, limited.retryAfterSeconds);
      deps.audit.record({
        event: "rate_limit",
        requestId: request.requestId,
        endpoint: request.endpoint,
        limit: "client",
        decision: "deny",
        error: error.code,
        reason: error.detail ?? "rate_limited",
        retryAfterSeconds: limited.retryAfterSeconds,
        clientAddress: request.clientAddress,
      });
      throw error;
    },
    admitWorkload: async (workloadId) => {
      if (workload === undefined) return;
      let limited;
      try {
        limited = await check("workload", workloadId, workload);
      } catch (error) {
        if (!(error instanceof RateLimiterUnavailableError)) throw error;
        throw new BrokerError("temporarily_unavailable", "the rate limiter is unavailable; retry shortly", {
          detail: error.message,
          cause: error,
          retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS,
        });
      }
      if (limited !== undefined) throw refusal("workload", workload, limited.retryAfterSeconds);
    },
    workloadLimit: workload,
    judgeWorkloadCharge: (decision) => {
      if (workload === undefined) return;
      const limited = judged("workload", decision);
      if (limited !== undefined) throw refusal("workload", workload, limited.retryAfterSeconds);
    },
  };
}
