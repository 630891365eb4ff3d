import { ISSUED_AT_MS_CLAIM, LINEAGE_CLAIM } from "../credentials/access-token.js";
import type { BrokerTokenClaims } from "../credentials/broker-token-verifier.js";
import { BrokerError } from "../errors/broker-error.js";
import type { TokenRef } from "../revocation/revocation-store.js";
import { actOf, type ActClaim } from "./act-claim.js";

/**
 * Token families (RFC 7009 §2.1: revoking a token may revoke related ones). Every broker token
 * minted from other broker tokens (re-exchange of a subject_token, or a broker token as
 * actor_token) names them in its private `lineage` claim (LINEAGE_CLAIM): their `jti`s and their own lineages,
 * oldest first. The store refuses a token when any `jti` of its lineage is revoked, so revoking a
 * token revokes everything minted from it, on every replica, with no new store entry.
 *
 * Why `jti`s and not a family id: an operator revokes by `jti` alone (`POST /admin/revoke/token`),
 * so a member in the middle of a family must be findable by its own `jti`. A new token never
 * outlives the tokens it was minted from (re-exchange and broker actors bound its `exp`), so the
 * revocation entry of any of them (kept until that token's `exp` at least) outlives the family.
 */

/** Most tokens a lineage may name; a longer one is refused (exchange an earlier token instead). */
const MAX_LINEAGE = 16;

/** The lineage of a verified broker token: empty for a token minted from an external token alone. */
function lineageOf(claims: BrokerTokenClaims): readonly string[] {
  const value = claims[LINEAGE_CLAIM];
  if (value === undefined) return [];
  // Signed by us: a malformed lineage means a bug or a key compromise, refused, never ignored.
  if (!Array.isArray(value) || value.length > MAX_LINEAGE || !value.every((jti) => typeof jti === "string" && jti !== "")) {
    throw new BrokerError("invalid_request", "token carries a malformed lineage claim", { detail: `token ${claims.jti}: malformed lineage` });
  }
  return value as string[];
}

/**
 * The lineage of a token minted from `sources` (the subject token, then a broker actor token):
 * each source's lineage followed by its own `jti`. Undefined when there is no source.
 */
export function lineageFrom(sources: readonly BrokerTokenClaims[]): string[] | undefined {
  if (sources.length === 0) return undefined;
  const lineage = [...new Set(sources.flatMap((source) => [...lineageOf(source), source.jti]))];
  if (lineage.length > MAX_LINEAGE) {
    throw new BrokerError("invalid_request", `the token was minted from too many tokens (at most ${MAX_LINEAGE}): exchange an earlier one`, {
      detail: `lineage of ${lineage.length} tokens exceeds ${MAX_LINEAGE}`,
    });
  }
  return lineage;
}

/**
 * A verified broker token as the revocation store judges it: its `jti`, workload, `iat` and
 * precise issuance stamp (`iat_ms`; absent on tokens minted before it existed), the tokens it was
 * minted from, and the workloads that acted in its chain (broker actors are the `act` entries
 * without `iss`). Throws BrokerError for a malformed `act`, `lineage` or `iat_ms`.
 */
export function tokenRef(claims: BrokerTokenClaims): TokenRef {
  const actors = brokerActors(actOf(claims.act));
  const issuedAtMs = claims[ISSUED_AT_MS_CLAIM];
  if (issuedAtMs !== undefined && (typeof issuedAtMs !== "number" || !Number.isSafeInteger(issuedAtMs) || issuedAtMs < 0)) {
    // Signed by us: a malformed stamp means a bug or a key compromise, refused, never ignored.
    throw new BrokerError("invalid_request", "token carries a malformed iat_ms claim", { detail: `token ${claims.jti}: malformed iat_ms` });
  }
  return { jti: claims.jti, sub: claims.sub, iat: claims.iat, ...(issuedAtMs === undefined ? {} : { issuedAtMs }), lineage: lineageOf(claims), actors };
}

function brokerActors(act: ActClaim | undefined): string[] {
  const found: string[] = [];
  for (let entry = act; entry !== undefined; entry = entry.act) {
    if (entry.iss === undefined && !found.includes(entry.sub)) found.push(entry.sub);
  }
  return found;
}
