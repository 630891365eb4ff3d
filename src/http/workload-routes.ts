import type { Hono } from "hono";
import { z } from "zod";
import type { AdminCall } from "../admin/admin-call.js";
import type { UnusedGrants } from "../admin/blast-radius.js";
import type { ListWorkloads, WorkloadInventoryEntry } from "../admin/list-workloads.js";
import { BrokerError } from "../errors/broker-error.js";
import { parseLongDurationSeconds } from "../lib/durations.js";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "../protocol/broker-defaults.js";
import type { AppEnv } from "./app-env.js";

const workloadQuery = z.strictObject({
  limit: z.string().regex(/^[1-9][0-9]{0,3}$/).transform(Number).pipe(z.number().max(MAX_PAGE_SIZE)).optional(),
  cursor: z.string().min(1).max(32).optional(),
  // "30d", "12h", "90m": workloads not issued a credential for that long.
  stale: z
    .string()
    .max(16)
    .transform((text, ctx) => {
      const seconds = parseLongDurationSeconds(text);
      if (seconds === undefined || seconds <= 0) {
        ctx.addIssue({ code: "custom", message: "not a duration" });
        return z.NEVER;
      }
      return seconds;
    })
    .optional(),
});

const seconds = (ms: number | undefined) => (ms === undefined ? null : Math.floor(ms / 1000));

/**
 * GET /admin/workloads (behind the /admin/ guard of admin-routes.ts): the workload inventory, one
 * page at a time (at most `limit`, `next_cursor` until done); `stale=30d` keeps the workloads a
 * policy grants that were not issued a credential for that long, and adds `unused_grants`.
 */
export function workloadRoutes(app: Hono<AppEnv>, deps: { readonly listWorkloads: ListWorkloads; readonly adminCall: (c: { get(key: "caller" | "requestId" | "clientAddress"): string }) => AdminCall }): void {
  app.get("/admin/workloads", async (c) => {
    const query = workloadQuery.safeParse({ limit: c.req.query("limit"), cursor: c.req.query("cursor"), stale: c.req.query("stale") });
    const repeated = ["limit", "cursor", "stale"].some((name) => (c.req.queries(name)?.length ?? 0) > 1);
    if (!query.success || repeated) {
      throw new BrokerError("invalid_request", `limit must be a whole number from 1 to ${MAX_PAGE_SIZE}, cursor the next_cursor of a previous page, stale a duration like 30d or 12h (each at most once)`);
    }
    const { limit, cursor, stale } = query.data;
    const page = await deps.listWorkloads({ limit: limit ?? DEFAULT_PAGE_SIZE, cursor, staleSeconds: stale }, deps.adminCall(c));
    return c.json({
      workloads: page.workloads.map(workloadJson),
      ...(page.unusedGrants ? { unused_grants: page.unusedGrants.map(unusedJson) } : {}),
      next_cursor: page.nextCursor ?? null,
    });
  });
}

function workloadJson(entry: WorkloadInventoryEntry) {
  const { blastRadius: radius, usage, revocation, block } = entry;
  return {
    workload_id: entry.workloadId,
    policies: entry.policies,
    owners: entry.owners,
    issuers: entry.issuers,
    blast_radius: {
      audiences: radius.audiences,
      scopes: radius.scopes,
      token_types: radius.tokenTypes,
      max_lifetime_seconds: radius.maxLifetimeSeconds,
      delegation: { allowed: radius.delegation.allowed, max_chain_depth: radius.delegation.maxChainDepth ?? null },
      size: radius.size,
    },
    first_issued_at: seconds(usage?.firstIssuedAtMs),
    last_issued_at: seconds(usage?.lastIssuedAtMs),
    issued_last_24h: usage?.issuedLast24h ?? 0,
    live_credentials: usage?.liveNow ?? 0,
    minted_by: usage?.policies ?? [],
    revoked_at: revocation?.revokedAt ?? null,
    blocked: block !== undefined,
    blocked_until: block?.until ?? null,
  };
}

function unusedJson(unused: UnusedGrants) {
  return {
    policy_id: unused.policyId,
    owner: unused.owner ?? null,
    never_requested: { audiences: unused.audiences, scopes: unused.scopes, token_types: unused.tokenTypes },
    last_used_at: seconds(unused.lastUsedMs),
  };
}
