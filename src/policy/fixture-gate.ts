import { createHash } from "node:crypto";
import { coverageGaps, policyFileNames } from "./fixture-coverage.js";
import { readFixtureSources, runFixtureSources } from "./fixtures.js";
import type { FixtureSource } from "./fixtures.js";
import { PolicyLoadError } from "./load-policies.js";
import type { PolicyLoadIssue } from "./load-policies.js";
import type { Narrow, PolicySet } from "./types.js";

/**
 * BROKER_POLICY_FIXTURES: `required` (the default) puts a policy set in force only when every
 * fixture beside it passes and covers every policy; `off` puts any valid set in force untested.
 */
export const FIXTURE_REQUIREMENTS = ["required", "off"] as const;
export type FixtureRequirement = (typeof FIXTURE_REQUIREMENTS)[number];
export const DEFAULT_FIXTURE_REQUIREMENT: FixtureRequirement = "required";

/** A policy set refused by its fixtures: every failing case and every coverage gap, one issue each. */
export class FixtureGateError extends PolicyLoadError {
  constructor(issues: readonly PolicyLoadIssue[]) {
    super(issues);
    this.name = "FixtureGateError";
    this.message = `policy fixtures failed (${issues.length} ${issues.length === 1 ? "problem" : "problems"}):\n  ${this.lines.join("\n  ")}`;
  }
}

/** The fixture files of a folder, read once, with a digest of their names and contents. */
export interface FixtureFolder {
  readonly sources: readonly FixtureSource[];
  /** sha256 over names and contents: an unchanged folder need not be run again against an unchanged set. */
  readonly digest: string;
}

/** Reads the folder's `*.test.yaml`; an unreadable folder or file is a gate failure. */
export async function readFixtureFolder(dir: string): Promise<FixtureFolder> {
  let sources: FixtureSource[];
  try {
    sources = await readFixtureSources(dir);
  } catch (error) {
    throw new FixtureGateError([{ file: dir, policyId: undefined, path: "", message: `cannot read the fixtures: ${error instanceof Error ? error.message : String(error)}` }]);
  }
  const hash = createHash("sha256");
  for (const { file, text } of sources) {
    for (const part of [file, text]) hash.update(`${Buffer.byteLength(part, "utf8")}:`).update(part, "utf8");
  }
  return { sources, digest: hash.digest("hex") };
}

/**
 * The gate a freshly loaded set passes before it is put in force: runs every fixture of
 * `folder` against `set` (narrowing as `broker policy test` does, so CI and the broker agree)
 * and checks that every policy has an allow and a deny fixture. Returns the number of cases;
 * throws {@link FixtureGateError} naming each failing case (file, case, what differed) and each
 * gap. A folder with policies and no fixtures fails by the coverage rule; an empty set passes.
 */
export async function checkFixtures(dir: string, set: PolicySet, folder: FixtureFolder, narrow: Narrow): Promise<number> {
  const verdict = await judgeFixtures(dir, set, folder.sources, narrow);
  const issues = [...verdict.failures, ...verdict.gaps];
  if (issues.length > 0) throw new FixtureGateError(issues);
  return verdict.cases;
}

/** A fixture file that cannot be read (`unreadable`), or a case whose decision differs from its `expect` (`failed`). */
export interface FixtureFailure extends PolicyLoadIssue {
  readonly kind: "unreadable" | "failed";
}

/** What the fixtures say of a set, as issues (`broker policy lint` reports them too). */
export interface FixtureVerdict {
  /** In the order the files ran: `file: fixture "name" failed: what differed`, or `file: unreadable fixture file (…)`. */
  readonly failures: readonly FixtureFailure[];
  /** Policies without a passing allow or deny case: `file [id]: no allow fixture`. */
  readonly gaps: readonly PolicyLoadIssue[];
  readonly cases: number;
}

/** Runs the fixtures against `set`: what failed, which policies they leave uncovered, how many cases ran. */
export async function judgeFixtures(dir: string, set: PolicySet, sources: readonly FixtureSource[], narrow: Narrow): Promise<FixtureVerdict> {
  const results = runFixtureSources(sources, set, narrow);
  const failures: FixtureFailure[] = results
    .filter((result) => !result.passed)
    .map((result) =>
      result.name === "(file)"
        ? { kind: "unreadable", file: result.file, policyId: undefined, path: "", message: `unreadable fixture file (${result.message.replaceAll("\n", "; ")})` }
        : { kind: "failed", file: result.file, policyId: undefined, path: "", message: `fixture "${result.name}" failed: ${result.message}` },
    );
  return { failures, gaps: coverageGaps(set.policyIds, results, await policyFileNames(dir)), cases: results.length };
}
