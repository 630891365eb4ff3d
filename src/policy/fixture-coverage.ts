import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { FixtureResult } from "./fixtures.js";
import { POLICY_FILE_SUFFIX } from "./load-policies.js";
import type { PolicyLoadIssue } from "./load-policies.js";
import { parseYaml } from "./yaml-source.js";

/**
 * The coverage rule: every policy needs at least one passing allow fixture (a case it granted)
 * and one passing deny fixture (a case it was evaluated for and refused), so both its doors are
 * tested. Returns one issue per missing kind, as `file [policy-id]: no allow fixture`, in the
 * order of `policyIds`. `fileOf` names the file a policy id came from.
 */
export function coverageGaps(policyIds: readonly string[], results: readonly FixtureResult[], fileOf: (policyId: string) => string): PolicyLoadIssue[] {
  const allowed = new Set<string>();
  const denied = new Set<string>();
  for (const { covers } of results) {
    if (covers === undefined) continue;
    for (const id of covers.policyIds) (covers.outcome === "allow" ? allowed : denied).add(id);
  }
  const gaps: PolicyLoadIssue[] = [];
  for (const policyId of policyIds) {
    const file = fileOf(policyId);
    if (!allowed.has(policyId)) gaps.push({ file, policyId, path: "", message: "no allow fixture" });
    if (!denied.has(policyId)) gaps.push({ file, policyId, path: "", message: "no deny fixture" });
  }
  return gaps;
}

/**
 * The file each policy id is written in, read from the folder's `*.policy.yaml` (for labels
 * only: a file that does not parse, or an id not found, is labelled with the folder's name).
 */
export async function policyFileNames(dir: string): Promise<(policyId: string) => string> {
  const byId = new Map<string, string>();
  const names = (await readdir(dir)).filter((name) => name.endsWith(POLICY_FILE_SUFFIX));
  for (const name of names) {
    const yaml = parseYaml(await readFile(join(dir, name), "utf8").catch(() => ""));
    const id = yaml.ok && typeof yaml.value === "object" && yaml.value !== null && "id" in yaml.value ? yaml.value.id : undefined;
    if (typeof id === "string" && !byId.has(id)) byId.set(id, name);
  }
  return (policyId) => byId.get(policyId) ?? dir;
}
