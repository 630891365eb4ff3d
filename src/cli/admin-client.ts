import { z } from "zod";

/** The admin API error the CLI reports: the server's own `error` and `error_description`. */
export class AdminApiError extends Error {
  override readonly name = "AdminApiError";
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string | undefined,
  ) {
    super(`${status} ${error}${description ? `: ${description}` : ""}`);
  }
}

export interface AdminClientOptions {
  /** Base URL of the broker, e.g. http://127.0.0.1:8080. */
  readonly url: string;
  /** The bootstrap secret or an admin-scoped broker token. Sent only in the Authorization header. */
  readonly token: string;
  readonly fetch?: typeof fetch;
  readonly timeoutMs?: number;
}

/** A thin client of the broker's /admin/ API, for the `broker` CLI. */
export function createAdminClient(options: AdminClientOptions) {
  const doFetch = options.fetch ?? fetch;
  const base = options.url.replace(/\/+$/, "");
  const call = async (method: "GET" | "POST" | "DELETE", path: string, body?: unknown): Promise<unknown> => {
    const res = await doFetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${options.token}`,
        accept: "application/json",
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === "" ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const fields = typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : {};
      const error = typeof fields.error === "string" ? fields.error : "http_error";
      const description = typeof fields.error_description === "string" ? fields.error_description : undefined;
      throw new AdminApiError(res.status, error, description);
    }
    return parsed;
  };
  return {
    revokeToken: (body: { jti: string; reason: string; expires_at?: number }) => call("POST", "/admin/revocations/tokens", body),
    revokeWorkload: (body: { workload_id: string; reason: string; block?: boolean; block_until?: string | number }) =>
      call("POST", "/admin/revocations/workloads", body),
    /** One page of GET /admin/revocations. */
    listPage: (limit?: number, cursor?: string) => {
      const query = new URLSearchParams({ ...(limit === undefined ? {} : { limit: String(limit) }), ...(cursor === undefined ? {} : { cursor }) }).toString();
      return call("GET", `/admin/revocations${query ? `?${query}` : ""}`);
    },
    /** One page of GET /admin/workloads. */
    workloadsPage: (options: { limit?: number; cursor?: string; stale?: string }) => {
      const query = new URLSearchParams();
      for (const [name, value] of Object.entries(options)) if (value !== undefined) query.set(name, String(value));
      return call("GET", `/admin/workloads${query.size > 0 ? `?${query.toString()}` : ""}`);
    },
    unblock: (workloadId: string, reason?: string) =>
      call("DELETE", `/admin/blocks/${encodeURIComponent(workloadId)}${reason ? `?reason=${encodeURIComponent(reason)}` : ""}`),
  };
}

export type AdminClient = ReturnType<typeof createAdminClient>;

const tokenEntry = z.looseObject({ jti: z.string() });
const workloadEntry = z.looseObject({ workload_id: z.string() });
const listingPage = z.looseObject({
  tokens: z.array(tokenEntry),
  workloads: z.array(workloadEntry),
  blocks: z.array(workloadEntry),
  next_cursor: z.string().min(1).nullable(),
});

/** The whole listing, page by page. */
export interface FullListing {
  readonly tokens: readonly Record<string, unknown>[];
  readonly workloads: readonly Record<string, unknown>[];
  readonly blocks: readonly Record<string, unknown>[];
}

/**
 * Every revocation and block in force: follows `next_cursor` from page to page until there is
 * none. An entry on two pages (the store may repeat one) is kept once, the later copy winning.
 */
export async function listAllRevocations(client: AdminClient, pageSize?: number): Promise<FullListing> {
  const tokens = new Map<string, Record<string, unknown>>();
  const workloads = new Map<string, Record<string, unknown>>();
  const blocks = new Map<string, Record<string, unknown>>();
  const cursors = new Set<string>();
  let cursor: string | undefined;
  do {
    const page = listingPage.safeParse(await client.listPage(pageSize, cursor));
    if (!page.success) throw new AdminApiError(200, "invalid_response", "the broker's revocation listing is not the expected JSON");
    for (const item of page.data.tokens) tokens.set(item.jti, item);
    for (const item of page.data.workloads) workloads.set(item.workload_id, item);
    for (const item of page.data.blocks) blocks.set(item.workload_id, item);
    cursor = page.data.next_cursor ?? undefined;
    // A cursor seen before would loop for ever: stop rather than spin.
    if (cursor !== undefined && cursors.has(cursor)) throw new AdminApiError(200, "invalid_response", "the broker returned a cursor it had returned before");
    if (cursor !== undefined) cursors.add(cursor);
  } while (cursor !== undefined);
  return { tokens: [...tokens.values()], workloads: [...workloads.values()], blocks: [...blocks.values()] };
}
