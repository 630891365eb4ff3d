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
    list: () => call("GET", "/admin/revocations"),
    unblock: (workloadId: string, reason?: string) =>
      call("DELETE", `/admin/blocks/${encodeURIComponent(workloadId)}${reason ? `?reason=${encodeURIComponent(reason)}` : ""}`),
  };
}

export type AdminClient = ReturnType<typeof createAdminClient>;
