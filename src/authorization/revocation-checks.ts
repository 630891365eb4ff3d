import type { BrokerTokenClaims } from "../credentials/broker-token-verifier.js";
import { BrokerError } from "../errors/broker-error.js";
import { latestCutoff, revocationCutoffMs, type IssuanceChecks, type TokenRevocationCause } from "../revocation/revocation-store.js";
import type { IssuanceState } from "../revocation/issuance-state.js";
import { guard } from "../revocation/store-guard.js";
import { tokenRef } from "./token-family.js";

/**
 * What an issuance check read that the credential it allows must be stamped after: the latest
 * workload revocation cutoff (milliseconds; undefined: none in force). See `revocation-store.ts`.
 */
export interface IssuanceFloor {
  readonly issueAfterMs: number | undefined;
}

/**
 * The `issueAfterMs` of a mint from the floors of its checks (the subject's, and the actor's when
 * there is one): the latest cutoff any of them read; nothing when none read one.
 */
export function mintFloor(subject: IssuanceFloor, actor: { readonly issueAfterMs?: number } | undefined): { issueAfterMs?: number } {
  const issueAfterMs = latestCutoff(subject.issueAfterMs, actor?.issueAfterMs);
  return issueAfterMs === undefined ? {} : { issueAfterMs };
}

/**
 * Checks before issuing to a workload, in one round trip: the workload is not blocked and, for
 * a single-use subject token, this is its first use (RFC 8693 §2.2.2: invalid_request). The
 * workload's revocation is read in the same round trip: the credential is stamped after it, so a
 * revocation acknowledged before this read never covers it (and one written after it does).
 * Fails closed: when the store cannot answer, nothing is issued.
 */
export async function checkIssuance(
  store: IssuanceChecks,
  check: { workloadId: string; replay: { key: string; expiresAt: number } | undefined },
): Promise<IssuanceFloor> {
  const [block, revocation, firstUse] = await guard(
    Promise.all([
      store.activeBlock(check.workloadId),
      store.workloadRevocation(check.workloadId),
      check.replay ? store.claimOnce(check.replay.key, check.replay.expiresAt) : true,
    ]),
  );
  return judgeIssuance({ block, revocation, firstUse }, check);
}

/**
 * What the store answered for an issuance, judged: refused when the workload is blocked
 * (unauthorized_client) or the single-use token was used before (RFC 8693 §2.2.2:
 * invalid_request), else the floor the credential is stamped after.
 */
export function judgeIssuance(
  state: Pick<IssuanceState, "block" | "revocation" | "firstUse">,
  check: { readonly workloadId: string; readonly replay: { readonly key: string } | undefined },
): IssuanceFloor {
  const { block, revocation } = state;
  if (block) {
    throw new BrokerError("unauthorized_client", "issuance to this workload is blocked", {
      detail: `workload ${check.workloadId} blocked by ${block.actor}: ${block.reason}`,
    });
  }
  if (!state.firstUse) {
    throw new BrokerError("invalid_request", "subject_token was already used", { detail: `replay of ${check.replay?.key}` });
  }
  return { issueAfterMs: revocation === undefined ? undefined : revocationCutoffMs(revocation) };
}

/** Why a revoked broker token is refused, for the audit record (never for the caller). */
const CAUSES: Record<TokenRevocationCause, string> = {
  jti: "its jti is revoked",
  workload: "its workload was revoked",
  family: "family revoked: a token it was minted from is revoked",
  actor_workload: "the workload of an actor in its chain was revoked",
};

/**
 * Checks a broker-issued token being exchanged again (or used as actor), in one round trip: not
 * revoked (by `jti`, workload, family or acting workload), and its workload not blocked. Answers
 * the latest cutoff read, for the stamp of what is minted from it.
 */
export async function checkBrokerToken(
  store: IssuanceChecks,
  token: BrokerTokenClaims,
  label: "subject_token" | "actor_token" = "subject_token",
): Promise<IssuanceFloor> {
  const ref = tokenRef(token);
  const [{ cause, latestCutoffMs }, block] = await guard(Promise.all([store.tokenRevocation(ref), store.activeBlock(token.sub)]));
  if (cause !== undefined) {
    throw new BrokerError("invalid_request", `${label} has been revoked`, { detail: `token ${token.jti} of ${token.sub} is revoked: ${CAUSES[cause]}` });
  }
  if (block) {
    const what = label === "actor_token" ? "the actor's workload is blocked" : "issuance to this workload is blocked";
    throw new BrokerError("unauthorized_client", what, {
      detail: `workload ${token.sub} blocked by ${block.actor}: ${block.reason}`,
    });
  }
  return { issueAfterMs: latestCutoffMs };
}
