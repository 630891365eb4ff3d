import type { AuditSink } from "../audit/audit-event.js";
import { BrokerError } from "../errors/broker-error.js";
import { InventoryUnavailableError, type InventoryStore, type WorkloadUsage } from "../inventory/inventory-store.js";
import type { Clock } from "../lib/clock.js";
import type { PolicySet, PolicySummary } from "../policy/types.js";
import type { IssuanceChecks, WorkloadBlock, WorkloadRevocation } from "../revocation/revocation-store.js";
import { audited, type AdminCall } from "./admin-call.js";
import { blastRadius, policiesMinting, unusedGrants, type BlastRadius, type UnusedGrants } from "./blast-radius.js";

export interface WorkloadQuery {
  readonly limit: number;
  /** The previous page's `nextCursor`; undefined: the first page. */
  readonly cursor: string | undefined;
  /** Only workloads a policy grants that were not issued a credential for this long (seconds). */
  readonly staleSeconds: number | undefined;
}

/** One workload of the inventory. */
export interface WorkloadInventoryEntry {
  readonly workloadId: string;
  /** The loaded policies that can mint it: its literal workload_id, or workload_id_expr policies that did. */
  readonly policies: readonly string[];
  readonly owners: readonly string[];
  readonly issuers: readonly string[];
  readonly blastRadius: BlastRadius;
  /** Undefined: no issuance recorded (never, or longer ago than the inventory's TTL). */
  readonly usage: WorkloadUsage | undefined;
  readonly revocation: WorkloadRevocation | undefined;
  readonly block: WorkloadBlock | undefined;
}

export interface WorkloadInventoryPage {
  readonly workloads: readonly WorkloadInventoryEntry[];
  /** With `staleSeconds`, on the first page: the policies granting more than was ever asked for. */
  readonly unusedGrants: readonly UnusedGrants[] | undefined;
  readonly nextCursor: string | undefined;
}

export type ListWorkloads = (query: WorkloadQuery, call: AdminCall) => Promise<WorkloadInventoryPage>;

export interface ListWorkloadsDeps {
  readonly inventory: InventoryStore;
  readonly policies: () => PolicySet;
  readonly revocations: Pick<IssuanceChecks, "workloadRevocation" | "activeBlock">;
  readonly audit: AuditSink;
  readonly clock: Clock;
}

/** Where a listing goes on: the index (most recent first) from an offset, then the literal ids never issued. */
interface Position {
  readonly phase: "index" | "literal";
  readonly offset: number;
}

/**
 * One page of the workload inventory (audited like every admin call): the workloads issued
 * credentials, most recently first, then those a policy names literally but never issued; each
 * with its policies, owners, issuers, blast radius, usage and revocation state.
 */
export function createListWorkloads(deps: ListWorkloadsDeps): ListWorkloads {
  return function listWorkloads(query, call) {
    return audited(deps.audit, call, { action: "list_workloads" }, async () => {
      const position = decodePosition(query.cursor);
      const policies = deps.policies().describe();
      const lastBeforeMs = query.staleSeconds === undefined ? undefined : deps.clock.now() - query.staleSeconds * 1000;
      try {
        const page = await collect(deps, policies, position, query.limit, lastBeforeMs);
        const stale = query.staleSeconds !== undefined;
        const workloads = await Promise.all(page.found.map(([id, usage]) => describeWorkload(deps, policies, id, usage)));
        // A stale listing is of workloads a policy still grants: the others have nothing to remove.
        const listed = stale ? workloads.filter((workload) => workload.policies.length > 0) : workloads;
        const unused = stale && query.cursor === undefined ? unusedGrants(policies, await deps.inventory.policyUsage(policies.map((policy) => policy.id))) : undefined;
        return { workloads: listed, unusedGrants: unused, nextCursor: page.next === undefined ? undefined : encodePosition(page.next) };
      } catch (error) {
        if (!(error instanceof InventoryUnavailableError)) throw error;
        throw new BrokerError("temporarily_unavailable", "the inventory store is unavailable; retry shortly", { detail: error.message, cause: error, retryAfterSeconds: 2 });
      }
    });
  };
}

/** Up to `limit` ids with their usage from `position`, and where the next page starts. */
async function collect(deps: ListWorkloadsDeps, policies: readonly PolicySummary[], position: Position, limit: number, lastBeforeMs: number | undefined) {
  const found: [string, WorkloadUsage | undefined][] = [];
  let literalOffset = position.offset;
  if (position.phase === "index") {
    const ids = await deps.inventory.workloadIds({ offset: position.offset, limit, ...(lastBeforeMs === undefined ? {} : { lastBeforeMs }) });
    const usage = await deps.inventory.usage(ids);
    ids.forEach((id, index) => found.push([id, usage[index]]));
    if (ids.length === limit) return { found, next: { phase: "index", offset: position.offset + limit } satisfies Position };
    literalOffset = 0;
  }
  // Named by a policy, never issued (within the TTL): what the index cannot know of.
  const literal = [...new Set(policies.map((policy) => policy.workloadId).filter((id): id is string => id !== undefined))].sort();
  const literalUsage = await deps.inventory.usage(literal);
  const neverIssued = literal.filter((_id, index) => literalUsage[index] === undefined);
  const room = limit - found.length;
  for (const id of neverIssued.slice(literalOffset, literalOffset + room)) found.push([id, undefined]);
  const end = literalOffset + room;
  return { found, next: end < neverIssued.length ? ({ phase: "literal", offset: end } satisfies Position) : undefined };
}

async function describeWorkload(deps: ListWorkloadsDeps, policies: readonly PolicySummary[], workloadId: string, usage: WorkloadUsage | undefined): Promise<WorkloadInventoryEntry> {
  const minting = policiesMinting(workloadId, policies, usage?.policies ?? []);
  const [revocation, block] = await Promise.all([deps.revocations.workloadRevocation(workloadId), deps.revocations.activeBlock(workloadId)]);
  const distinct = (values: readonly (string | undefined)[]) => [...new Set(values.filter((value): value is string => value !== undefined))].sort();
  return {
    workloadId,
    policies: minting.map((policy) => policy.id),
    owners: distinct(minting.map((policy) => policy.owner)),
    issuers: distinct(minting.map((policy) => policy.issuer)),
    blastRadius: blastRadius(minting),
    usage,
    revocation,
    block,
  };
}

function encodePosition(position: Position): string {
  return `${position.phase === "index" ? "i" : "l"}${position.offset}`;
}

/** A cursor this listing made: "i<offset>" or "l<offset>"; anything else is the caller's mistake (400). */
function decodePosition(cursor: string | undefined): Position {
  if (cursor === undefined) return { phase: "index", offset: 0 };
  const match = /^([il])(0|[1-9][0-9]{0,8})$/.exec(cursor);
  if (!match) throw new BrokerError("invalid_request", "invalid cursor: use the next_cursor of a previous page");
  return { phase: match[1] === "i" ? "index" : "literal", offset: Number(match[2]) };
}
