// Prints how many import statements run from each src/ folder (or top-level file) to another:
// the figures behind docs/architecture.md. Usage: node scripts/folder-imports.mjs [src]
/* global process, console */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, dirname, relative, resolve } from "node:path";
const root = resolve(process.argv[2] ?? "src");
const files = [];
const walk = (d) => { for (const n of readdirSync(d)) { const p = join(d, n); if (statSync(p).isDirectory()) walk(p); else if (p.endsWith(".ts")) files.push(p); } };
walk(root);
const folderOf = (p) => { const r = relative(root, p); const parts = r.split("/"); return parts.length > 1 ? parts[0] + "/" : r; };
const counts = new Map();
for (const f of files) {
  const text = readFileSync(f, "utf8");
  for (const m of text.matchAll(/^\s*(?:import|export)[^'"]*?from\s+["'](\.[^"']+)["']/gm)) {
    const target = resolve(dirname(f), m[1]);
    const a = folderOf(f), b = folderOf(target);
    if (a === b) continue;
    const k = `${a} -> ${b}`; counts.set(k, (counts.get(k) ?? 0) + 1);
  }
}
const rows = [...counts].sort((x, y) => x[0].localeCompare(y[0]));
let total = 0; for (const [k, v] of rows) { console.log(`${String(v).padStart(4)}  ${k}`); total += v; }
console.log(`${String(total).padStart(4)}  total cross-folder imports`);
