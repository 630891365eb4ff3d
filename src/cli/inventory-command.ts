import { InvalidArgumentError, type Command } from "commander";
import { z } from "zod";
import { parseLongDurationSeconds } from "../lib/durations.js";
import { MAX_PAGE_SIZE } from "../protocol/broker-defaults.js";
import { AdminApiError, type AdminClient } from "./admin-client.js";
import { runAdminCall, urlOption } from "./admin-commands.js";

const workload = z.looseObject({
  workload_id: z.string(),
  policies: z.array(z.string()),
  owners: z.array(z.string()),
  issuers: z.array(z.string()),
  blast_radius: z.looseObject({ size: z.number(), max_lifetime_seconds: z.number(), delegation: z.looseObject({ allowed: z.boolean() }) }),
  last_issued_at: z.number().nullable(),
  issued_last_24h: z.number(),
  live_credentials: z.number(),
  revoked_at: z.number().nullable(),
  blocked: z.boolean(),
});
const unused = z.looseObject({
  policy_id: z.string(),
  owner: z.string().nullable(),
  never_requested: z.looseObject({ audiences: z.array(z.string()), scopes: z.array(z.string()), token_types: z.array(z.string()) }),
  last_used_at: z.number().nullable(),
});
const page = z.looseObject({ workloads: z.array(workload), unused_grants: z.array(unused).optional(), next_cursor: z.string().min(1).nullable() });

type Workload = z.infer<typeof workload>;
type Unused = z.infer<typeof unused>;

/** The whole inventory: every page, `unused_grants` from the first. */
export async function fetchInventory(client: AdminClient, options: { stale?: string; pageSize?: number }): Promise<{ workloads: Workload[]; unused_grants?: Unused[] }> {
  const workloads = new Map<string, Workload>();
  let unusedGrants: Unused[] | undefined;
  const cursors = new Set<string>();
  let cursor: string | undefined;
  do {
    const answer = await client.workloadsPage({ limit: options.pageSize, cursor, stale: options.stale });
    const parsed = page.safeParse(answer);
    if (!parsed.success) throw new AdminApiError(200, "invalid_response", "the broker's workload inventory is not the expected JSON");
    // The checked answer itself, not zod's copy, so --json prints the fields in the broker's order.
    const checked = answer as z.infer<typeof page>;
    for (const item of checked.workloads) workloads.set(item.workload_id, item);
    unusedGrants ??= checked.unused_grants;
    cursor = parsed.data.next_cursor ?? undefined;
    if (cursor !== undefined && cursors.has(cursor)) throw new AdminApiError(200, "invalid_response", "the broker returned a cursor it had returned before");
    if (cursor !== undefined) cursors.add(cursor);
  } while (cursor !== undefined);
  return { workloads: [...workloads.values()], ...(unusedGrants ? { unused_grants: unusedGrants } : {}) };
}

/** The inventory as a table for a terminal; with --stale, the grants never asked for below it. */
export function inventoryTable(inventory: { workloads: readonly Workload[]; unused_grants?: readonly Unused[] }, nowSeconds: number): string {
  const header = ["WORKLOAD", "POLICIES", "OWNER", "ISSUER", "LAST ISSUED", "24H", "LIVE", "RADIUS", "MAX TTL", "DELEG", "STATE"];
  const rows = inventory.workloads.map((item) => [
    item.workload_id,
    item.policies.join(",") || "-",
    item.owners.join(",") || "-",
    item.issuers.join(",") || "-",
    item.last_issued_at === null ? "never" : `${ago(nowSeconds - item.last_issued_at)} ago`,
    String(item.issued_last_24h),
    String(item.live_credentials),
    String(item.blast_radius.size),
    `${item.blast_radius.max_lifetime_seconds}s`,
    item.blast_radius.delegation.allowed ? "yes" : "no",
    [item.revoked_at === null ? "" : "revoked", item.blocked ? "blocked" : ""].filter(Boolean).join("+") || "active",
  ]);
  const lines = [align([header, ...rows])];
  if (inventory.workloads.length === 0) lines.push("(no workloads)");
  if (inventory.unused_grants !== undefined) {
    lines.push("", "Policies granting more than was ever requested:");
    if (inventory.unused_grants.length === 0) lines.push("(none: every audience, scope and token type granted was asked for)");
    for (const item of inventory.unused_grants) {
      const { audiences, scopes, token_types: types } = item.never_requested;
      const never = [audiences.length ? `audiences ${audiences.join(" ")}` : "", scopes.length ? `scopes ${scopes.join(" ")}` : "", types.length ? `token types ${types.join(" ")}` : ""].filter(Boolean).join("; ");
      const used = item.last_used_at === null ? "never used" : `last used ${ago(nowSeconds - item.last_used_at)} ago`;
      lines.push(`  ${item.policy_id} (owner ${item.owner ?? "-"}, ${used}): never requested ${never}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

function align(rows: readonly string[][]): string {
  const widths = rows[0]?.map((_cell, column) => Math.max(...rows.map((row) => (row[column] ?? "").length))) ?? [];
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join("  ").trimEnd()).join("\n");
}

/** 45s, 12m, 3h, 4d: how long ago, coarsely. */
function ago(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

const staleOption = (text: string): string => {
  const seconds = parseLongDurationSeconds(text);
  if (seconds === undefined || seconds <= 0) throw new InvalidArgumentError("a duration like 30d, 12h or 90m");
  return text.trim();
};

const pageSize = (text: string): number => {
  const value = Number(text);
  if (!/^[1-9][0-9]{0,3}$/.test(text) || value > MAX_PAGE_SIZE) throw new InvalidArgumentError(`whole number from 1 to ${MAX_PAGE_SIZE}`);
  return value;
};

/** `broker inventory [--stale 30d] [--json]`: every workload the policies can mint, with its blast radius and use. */
export function addInventoryCommand(program: Command): void {
  program
    .command("inventory")
    .description("list every workload the policies can mint: owner, issuer, blast radius, last use, live credentials, revocation state")
    .option("--stale <duration>", "only workloads a policy grants that were not issued a credential for this long (e.g. 30d), and the grants never requested", staleOption)
    .option("--json", "print the JSON of the admin API instead of a table")
    .option("--page-size <n>", `workloads per request to the broker (1-${MAX_PAGE_SIZE})`, pageSize)
    .addOption(urlOption())
    .action(async (options: { stale?: string; json?: boolean; pageSize?: number; url: string }) =>
      runAdminCall(
        options.url,
        (client) => fetchInventory(client, options),
        options.json ? undefined : (inventory) => inventoryTable(inventory, Math.floor(Date.now() / 1000)),
      ),
    );
}
