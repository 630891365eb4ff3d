import type { CallLabels } from "../lib/around-calls.js";

/**
 * Revocation state shared by every replica: revoked token ids, revoked workloads, blocked
 * workloads, and single-use claims on subject tokens (replay protection).
 *
 * Implementations: MemoryRevocationStore (one process; development) and RedisRevocationStore
 * (any number of replicas). Every method either answers from the authoritative store or throws
 * StoreUnavailableError: callers fail closed, they never guess.
 *
 * Instants are whole seconds since the Unix epoch, except the fields named `…Ms` (milliseconds).
 *
 * Ordering of issuance and workload revocation (issue 12): whole seconds cannot tell a token
 * minted 12 ms after a revocation from one minted before it. So a workload revocation carries a
 * precise cutoff (`cutoffMs`) and every broker credential a precise issuance stamp (`issuedAtMs`,
 * the access token's private `iat_ms` claim); a credential is revoked when its stamp is at or
 * before the cutoff. The stamp is ordered by the store, not by clocks: every issuance reads the
 * workload revocations that could apply to it in its own store round trip (`latestCutoffMs`),
 * and the credential is stamped strictly after every cutoff it read. A revocation written after
 * that read gets a cutoff of the revoker's clock + CUTOFF_MARGIN_MS, and always strictly after
 * the cutoff it replaces. Entries and tokens from before this rule fall back to whole seconds,
 * compared inclusively as before (a cutoff of `revokedAt` * 1000 + 999, a stamp of `iat` * 1000).
 */
export type RevocationStore = RevocationStatus & IssuanceChecks & RevocationAdmin & SvidRegistry & StoreLifecycle;

/**
 * Every call of the store, each labelled with its own name: decorators (metrics, tests) start from
 * this and change what they must (lib/around-calls.ts), so none forwards each method by hand.
 */
export const STORE_CALLS: CallLabels<RevocationStore> = {
  tokenStatus: "tokenStatus",
  tokenRevocation: "tokenRevocation",
  activeBlock: "activeBlock",
  workloadRevocation: "workloadRevocation",
  claimOnce: "claimOnce",
  revokeToken: "revokeToken",
  revokeWorkload: "revokeWorkload",
  blockWorkload: "blockWorkload",
  unblockWorkload: "unblockWorkload",
  recordSvid: "recordSvid",
  revokeSvid: "revokeSvid",
  revokedSvids: "revokedSvids",
  list: "list",
  listPage: "listPage",
  ping: "ping",
  close: "close",
};

/*
 * The store's roles: each consumer takes the one it uses (octo-sts: small interfaces). The
 * composition root passes the one store object to all of them; both stores implement every role.
 */

/**
 * Claim-once: the replay protection of single-use subject tokens and of DPoP proof `jti`s
 * (RFC 9449 §11.1), shared by every replica.
 */
export interface SingleUseClaims {
  /**
   * Atomically claims a single-use key until `expiresAt`: true for the first claim, false for
   * every later one (a replay), across all replicas.
   */
  claimOnce(key: string, expiresAt: number): Promise<boolean>;
}

/** Whether a broker token is still good: introspection, RFC 7009 revocation, admin callers. */
export interface RevocationStatus {
  /**
   * The status of a broker-issued token: revoked when its `jti` was revoked, when its workload
   * (`sub`) was revoked with a cutoff at or after the token's issuance stamp, when a token it was
   * minted from (`lineage`) was revoked by `jti`, or when a workload that acted in its chain
   * (`actors`) was revoked with such a cutoff. One round trip.
   */
  tokenStatus(token: TokenRef): Promise<"active" | "revoked">;
}

/**
 * The authorization kernel's checks before issuing (`authorization/revocation-checks.ts`), each
 * read in the request's one store round trip: blocked, revoked (token, family, actors), the
 * issuance stamp's floor, and the first use of a single-use token.
 */
export interface IssuanceChecks extends SingleUseClaims {
  /**
   * Why a broker-issued token is revoked (the rule of `tokenStatus`; `cause` undefined when it is
   * active), and the latest cutoff among the workload revocations read. One round trip.
   */
  tokenRevocation(token: TokenRef): Promise<TokenJudgement>;

  /** The block in force on a workload now, if any. */
  activeBlock(workloadId: string): Promise<WorkloadBlock | undefined>;

  /** The revocation in force on a workload now, if any (read at issuance, for the issuance stamp). */
  workloadRevocation(workloadId: string): Promise<WorkloadRevocation | undefined>;
}

/** The operator's writes and listings (admin API, RFC 7009 revocation, the in-force gauge). */
export interface RevocationAdmin {
  /** Revokes one token id until `expiresAt` (the token's own `exp`). Resolves once stored. */
  revokeToken(entry: TokenRevocation): Promise<void>;

  /**
   * Revokes every credential of a workload stamped at or before `entry.cutoffMs`. The entry
   * lives until `entry.expiresAt` (revokedAt + the global lifetime cap). Merged atomically with
   * the revocation in force (`mergeWorkloadRevocation`, store-rules.ts): the cutoff moves forward, never back.
   */
  revokeWorkload(entry: WorkloadRevocation): Promise<void>;

  /** Blocks new issuance for a workload until lifted or until `block.until`. */
  blockWorkload(block: WorkloadBlock): Promise<void>;

  /** Lifts a block; true when there was one. Revoked credentials stay revoked. */
  unblockWorkload(workloadId: string): Promise<boolean>;

  /** Every revocation and block in force (the in-force gauge; not on the hot path). */
  list(): Promise<RevocationListing>;

  /**
   * One page of the revocations and blocks in force, for the operator: at most `limit` entries
   * in all, and `nextCursor` (opaque) until the listing is complete. Every entry in force for the
   * whole listing appears on some page; one may appear twice (Redis SCAN's guarantee). Throws
   * InvalidCursorError for a cursor this store did not make or can no longer follow.
   */
  listPage(page: ListPageRequest): Promise<RevocationPage>;
}

/** The issued X.509-SVIDs: recorded at issuance, revoked by serial, listed for the CRL. */
export interface SvidRegistry {
  /**
   * Records an issued X.509-SVID until it expires, so that revoking its workload (or its serial)
   * puts it on the CRL.
   */
  recordSvid(entry: SvidRecord): Promise<void>;

  /**
   * Revokes one recorded, unexpired X.509-SVID by serial. Answers the record, or undefined when
   * no such SVID is recorded (unknown or expired serial). A second revocation keeps the first.
   */
  revokeSvid(serial: string, meta: RevocationMeta): Promise<SvidRecord | undefined>;

  /**
   * Every recorded X.509-SVID that has not expired and is revoked: its serial was revoked, or its
   * workload was revoked at or after its issuance. For the CRL; not on the hot path.
   */
  revokedSvids(): Promise<readonly RevokedSvid[]>;
}

/** What the composition root needs: which store, its readiness, and closing it. */
export interface StoreLifecycle {
  /** Which implementation this is, for logs and /readyz. */
  readonly kind: "memory" | "redis";

  /** Throws StoreUnavailableError when the store cannot answer now (readiness). */
  ping(): Promise<void>;

  close(): Promise<void>;
}

/** A broker-issued token as the store judges it. */
export interface TokenRef {
  readonly jti: string;
  readonly sub: string;
  readonly iat: number;
  /**
   * Its precise issuance stamp, milliseconds (the `iat_ms` claim). Undefined for tokens minted
   * before the claim existed (and external actor tokens): then `iat` * 1000, its whole second.
   */
  readonly issuedAtMs?: number;
  /**
   * `jti`s of the broker tokens this one was minted from (its subject token and broker actor
   * tokens, and theirs), oldest first: its family. Revoking any of them revokes this one.
   */
  readonly lineage?: readonly string[];
  /** Workload ids of the broker tokens that acted in its chain: revoking one at or after `iat` revokes this one. */
  readonly actors?: readonly string[];
}

/** What revoked a token: its own `jti`, its workload, a token of its family, or the workload of an actor in its chain. */
export type TokenRevocationCause = "jti" | "workload" | "family" | "actor_workload";

/** What the store found for a token. */
export interface TokenJudgement {
  /** Why it is revoked; undefined: active. */
  readonly cause: TokenRevocationCause | undefined;
  /**
   * The latest cutoff among the live workload revocations read (its workload's and its actors'),
   * undefined when there was none: a credential minted from this answer is stamped after it.
   */
  readonly latestCutoffMs: number | undefined;
  /** The entry that revoked it (undefined when active): which one, and when it was recorded. */
  readonly revokedBy?: RevocationSource;
}

/**
 * A revocation or block as the first refusal it causes sees it: `key` names the entry (kind and
 * id, plus its cutoff for a workload, so a later revocation of the same workload is another
 * entry), `atMs` when it was recorded (milliseconds; whole seconds × 1000 for older entries).
 */
export interface RevocationSource {
  readonly key: string;
  readonly atMs: number;
}

/** When `meta` was recorded, in milliseconds: `atMs`, else its whole second. */
export function recordedAtMs(meta: RevocationMeta): number {
  return meta.atMs ?? meta.at * 1000;
}

/**
 * How far past the revoker's clock a new workload revocation's cutoff lies. A credential whose
 * issuance read the store before the revocation was written, but whose replica's clock runs up to
 * this much ahead of the revoker's, is still covered; a credential whose issuance read the
 * revocation is stamped after the cutoff whatever the clocks say, so the margin never revokes it.
 */
export const CUTOFF_MARGIN_MS = 1000;

/** The precise issuance stamp of a token: `issuedAtMs`, else (older tokens) the start of its `iat` second. */
export function issuanceStampMs(token: { readonly iat: number; readonly issuedAtMs?: number }): number {
  return token.issuedAtMs ?? token.iat * 1000;
}

/** The precise cutoff of a workload revocation: `cutoffMs`, else (older entries) the end of its `revokedAt` second. */
export function revocationCutoffMs(entry: WorkloadRevocation): number {
  return entry.cutoffMs ?? entry.revokedAt * 1000 + 999;
}

/** The stamp of a credential minted after reading cutoffs up to `latestCutoffMs`: now, and strictly after every cutoff read. */
export function nextIssuanceStampMs(nowMs: number, latestCutoffMs: number | undefined): number {
  return latestCutoffMs === undefined ? nowMs : Math.max(nowMs, latestCutoffMs + 1);
}

/** The latest of several optional cutoffs (undefined when there is none). */
export function latestCutoff(...cutoffs: readonly (number | undefined)[]): number | undefined {
  const known = cutoffs.filter((cutoff): cutoff is number => cutoff !== undefined);
  return known.length === 0 ? undefined : Math.max(...known);
}

/** Who did it and why: kept with every entry and written to the audit log. */
export interface RevocationMeta {
  /** The operator's identity (admin token `sub`, or "bootstrap-admin"). */
  readonly actor: string;
  readonly reason: string;
  /** When it was recorded. */
  readonly at: number;
  /**
   * When it was recorded, in milliseconds of the recorder's clock: `broker_time_to_revoke_seconds`
   * is measured from it. Absent on entries written before it existed (then `at`, whole seconds).
   */
  readonly atMs?: number;
}

export interface TokenRevocation extends RevocationMeta {
  readonly jti: string;
  readonly expiresAt: number;
}

export interface WorkloadRevocation extends RevocationMeta {
  readonly workloadId: string;
  /** When it was revoked (the revoker's clock, whole seconds): what operators and the CRL see. */
  readonly revokedAt: number;
  /**
   * Credentials of this workload stamped at or before this instant (milliseconds) are inactive.
   * Undefined on entries written before it existed: the end of the `revokedAt` second.
   */
  readonly cutoffMs?: number;
  readonly expiresAt: number;
}

export interface WorkloadBlock extends RevocationMeta {
  readonly workloadId: string;
  /** End of the block; undefined: until lifted. */
  readonly until: number | undefined;
}

/** An issued X.509-SVID, recorded for revocation. */
export interface SvidRecord {
  /** Lowercase hexadecimal certificate serial number, without leading zero bytes. */
  readonly serial: string;
  /** The workload id of the grant it was issued under (what an operator revokes). */
  readonly workloadId: string;
  readonly issuedAt: number;
  /** Its precise issuance stamp (see `issuanceStampMs`); undefined on older records: `issuedAt` * 1000. */
  readonly issuedAtMs?: number;
  /** The certificate's notAfter. */
  readonly expiresAt: number;
  /** Set when the serial itself was revoked. */
  readonly revoked?: RevocationMeta;
}

/** A revoked, unexpired X.509-SVID: one CRL entry. */
export interface RevokedSvid {
  readonly serial: string;
  readonly expiresAt: number;
  /** When it became revoked: the serial's or the workload's revocation instant. */
  readonly revokedAt: number;
}

export interface RevocationListing {
  readonly tokens: readonly TokenRevocation[];
  readonly workloads: readonly WorkloadRevocation[];
  readonly blocks: readonly WorkloadBlock[];
}

export interface ListPageRequest {
  /** At most this many entries (tokens, workloads and blocks together); 1 or more. */
  readonly limit: number;
  /** Where the previous page stopped; undefined: from the start. */
  readonly cursor: string | undefined;
}

export interface RevocationPage extends RevocationListing {
  /** Where to go on; undefined when the listing is complete. */
  readonly nextCursor: string | undefined;
}

/** A listing cursor that is malformed, not this store's, or no longer valid (400 for the caller). */
export class InvalidCursorError extends Error {
  override readonly name = "InvalidCursorError";
}

/** The store could not answer in time: deny and tell the caller to retry (503). */
export class StoreUnavailableError extends Error {
  override readonly name = "StoreUnavailableError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
