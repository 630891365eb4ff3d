/** A fixed-width table: each column as wide as its widest cell, two spaces between, no trailing blanks. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length))) ?? [];
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join("  ").trimEnd()).join("\n") + "\n";
}

/** How long ago `at` (ISO time) was, in whole units ("3d ago", "5h ago", "12m ago", "40s ago"); "-" when unknown. */
export function ageOf(at: string | undefined, nowMs: number): string {
  if (at === undefined) return "-";
  const seconds = (nowMs - Date.parse(at)) / 1000;
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.floor(seconds));
  if (s >= 86_400) return `${Math.floor(s / 86_400)}d ago`;
  if (s >= 3600) return `${Math.floor(s / 3600)}h ago`;
  if (s >= 60) return `${Math.floor(s / 60)}m ago`;
  return `${s}s ago`;
}
