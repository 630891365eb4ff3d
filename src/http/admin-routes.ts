import type { Hono, MiddlewareHandler } from "hono";
import { z } from "zod";
import { BrokerError } from "../errors/broker-error.js";
import type { AdminCall } from "../admin/admin-call.js";
import { MAX_CURSOR_LENGTH } from "../revocation/list-cursor.js";
import type { ListRevocations } from "../admin/list-revocations.js";
import type { TokenRevocation, WorkloadBlock, WorkloadRevocation } from "../revocation/revocation-store.js";
import type { RevokeTokenId } from "../admin/revoke-token-id.js";
import type { RevokeWorkload } from "../admin/revoke-workload.js";
import type { UnblockWorkload } from "../admin/unblock-workload.js";
import type { RevokeSvid } from "../admin/revoke-svid.js";
import type { ListWorkloads } from "../admin/list-workloads.js";
import { workloadRoutes } from "./workload-routes.js";
import type { AppEnv } from "./app-env.js";
import { readJson } from "./json-body.js";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "../protocol/broker-defaults.js";

export interface AdminRouteDeps {
  readonly requireAdmin: MiddlewareHandler<AppEnv>;
  readonly revokeTokenId: RevokeTokenId;
  readonly revokeWorkload: RevokeWorkload;
  readonly listRevocations: ListRevocations;
  readonly unblockWorkload: UnblockWorkload;
  readonly revokeSvid: RevokeSvid;
  /** GET /admin/workloads, the workload inventory (workload-routes.ts). */
  readonly listWorkloads: ListWorkloads;
  readonly maxBodyBytes: number;
}

/** Printable text without control characters (it lands in logs and listings). */
const text = (max: number) => z.string().trim().min(1).max(max).regex(/^[^\p{Cc}]+$/u, "must not contain control characters");
const epoch = z.number().int().positive().max(253_402_300_799);

const revokeTokenBody = z.strictObject({ jti: text(256), expires_at: epoch.optional(), reason: text(500) });

const revokeSvidBody = z.strictObject({ serial: text(128), reason: text(500) });

const revokeWorkloadBody = z.strictObject({
  workload_id: text(512),
  reason: text(500),
  block: z.boolean().default(false),
  // RFC 3339 date-time (with Z or an offset) or epoch seconds.
  block_until: z.union([epoch, z.iso.datetime({ offset: true }).transform((at) => Math.floor(Date.parse(at) / 1000))]).optional(),
});

const listQuery = z.strictObject({
  limit: z
    .string()
    .regex(/^[1-9][0-9]{0,3}$/)
    .transform(Number)
    .pipe(z.number().max(MAX_PAGE_SIZE))
    .optional(),
  cursor: z.string().min(1).max(MAX_CURSOR_LENGTH).optional(),
});

/**
 * The operator API under /admin/: revoke by jti, revoke (and block) a workload, list, lift a
 * block. Every route, known or not, sits behind `requireAdmin`, so an unauthenticated caller
 * cannot even tell which admin routes exist.
 */
export function adminRoutes(app: Hono<AppEnv>, deps: AdminRouteDeps): void {
  // "/admin/*" also matches "/admin" and "/admin/", which are no route and stay plain 404s: they
  // pass through. (Not a "/admin/:path{.+}" pattern: a regex parameter beside static routes makes
  // Hono fall back from its RegExpRouter, which answers a static route from a precomputed table,
  // to the TrieRouter, which searches and sorts per request.)
  app.use("/admin/*", (c, next) => (c.req.path === "/admin" || c.req.path === "/admin/" ? next() : deps.requireAdmin(c, next)));

  app.post("/admin/revocations/tokens", async (c) => {
    const body = await readJson(c, revokeTokenBody, deps.maxBodyBytes);
    const entry = await deps.revokeTokenId({ jti: body.jti, expiresAt: body.expires_at, reason: body.reason }, adminCall(c));
    return c.json(tokenJson(entry), 201);
  });

  app.post("/admin/revocations/workloads", async (c) => {
    const body = await readJson(c, revokeWorkloadBody, deps.maxBodyBytes);
    const result = await deps.revokeWorkload(
      { workloadId: body.workload_id, reason: body.reason, block: body.block, blockUntil: body.block_until },
      adminCall(c),
    );
    return c.json({ revocation: workloadJson(result.revocation), ...(result.block ? { block: blockJson(result.block) } : {}) }, 201);
  });

  // One X.509-SVID by serial: on the CRL until it expires.
  app.post("/admin/revocations/svids", async (c) => {
    const body = await readJson(c, revokeSvidBody, deps.maxBodyBytes);
    const record = await deps.revokeSvid({ serial: body.serial, reason: body.reason }, adminCall(c));
    return c.json(
      {
        serial: record.serial,
        workload_id: record.workloadId,
        issued_at: record.issuedAt,
        expires_at: record.expiresAt,
        revoked_at: record.revoked?.at ?? null,
        actor: record.revoked?.actor ?? null,
        reason: record.revoked?.reason ?? null,
      },
      201,
    );
  });

  // Paginated: at most `limit` entries a page, and `next_cursor` until the listing is complete.
  app.get("/admin/revocations", async (c) => {
    const query = listQuery.safeParse({ limit: c.req.query("limit"), cursor: c.req.query("cursor") });
    if (!query.success || (c.req.queries("limit")?.length ?? 0) > 1 || (c.req.queries("cursor")?.length ?? 0) > 1) {
      throw new BrokerError("invalid_request", `limit must be whole numbers from 1 to ${MAX_PAGE_SIZE}, cursor the next_cursor of a previous page (each at most once)`);
    }
    const page = await deps.listRevocations({ limit: query.data.limit ?? DEFAULT_PAGE_SIZE, cursor: query.data.cursor }, adminCall(c));
    return c.json({
      tokens: page.tokens.map(tokenJson),
      workloads: page.workloads.map(workloadJson),
      blocks: page.blocks.map(blockJson),
      next_cursor: page.nextCursor ?? null,
    });
  });

  // The workload id is one path segment, URL-encoded (ids such as github/1/2 contain slashes).
  app.delete("/admin/blocks/:workloadId", async (c) => {
    const workloadId = text(512).safeParse(c.req.param("workloadId"));
    const reason = text(500).optional().safeParse(c.req.query("reason"));
    if (!workloadId.success || !reason.success) throw new BrokerError("invalid_request", "a workload id (URL-encoded) and an optional printable reason are required");
    await deps.unblockWorkload({ workloadId: workloadId.data, reason: reason.data }, adminCall(c));
    return c.body(null, 204);
  });

  workloadRoutes(app, { listWorkloads: deps.listWorkloads, adminCall });
}

function adminCall(c: { get(key: "caller" | "requestId" | "clientAddress"): string }): AdminCall {
  return { actor: c.get("caller"), requestId: c.get("requestId"), clientAddress: c.get("clientAddress") };
}

const tokenJson = (entry: TokenRevocation) => ({
  jti: entry.jti,
  expires_at: entry.expiresAt,
  actor: entry.actor,
  reason: entry.reason,
  recorded_at: entry.at,
});

const workloadJson = (entry: WorkloadRevocation) => ({
  workload_id: entry.workloadId,
  revoked_at: entry.revokedAt,
  expires_at: entry.expiresAt,
  actor: entry.actor,
  reason: entry.reason,
  recorded_at: entry.at,
});

const blockJson = (block: WorkloadBlock) => ({
  workload_id: block.workloadId,
  until: block.until ?? null,
  actor: block.actor,
  reason: block.reason,
  recorded_at: block.at,
});
