import { narrowWithin } from "../authorization/attenuate.js";
import { judgeFixtures, loadPolicySet, policyFileNames, readFixtureSources } from "../policy/index.js";
import { formatIssue } from "../policy/yaml-source.js";
import { issuerProfiles } from "./policy-test.js";

export interface CoverageOptions {
  readonly trustDomain?: string;
  /** `--require-owner` / BROKER_POLICY_REQUIRE_OWNER: a policy without `owner` is a problem. */
  readonly requireOwner?: boolean;
}

/**
 * What `broker policy lint` adds to the static checks of {@link lintPolicies}: it runs the
 * fixtures (as `broker policy test` and the broker's fixtures gate do) and reports every failing
 * case and every policy without an allow or a deny fixture (`file [policy-id]: no allow fixture`),
 * and, when required, every policy without an owner. A set that does not load, or an issuers file
 * that cannot be read, gives nothing here: lintPolicies already reports why.
 */
export async function lintCoverage(dir: string, issuersFile: string, options: CoverageOptions = {}): Promise<string[]> {
  let set;
  try {
    set = await loadPolicySet(dir, { knownIssuers: await issuerProfiles(issuersFile), trustDomain: options.trustDomain });
  } catch {
    return [];
  }
  const verdict = await judgeFixtures(dir, set, await readFixtureSources(dir), narrowWithin(Number.POSITIVE_INFINITY));
  // An unreadable fixture file is one of lintPolicies' problems already.
  const failed = verdict.failures.filter((failure) => failure.kind === "failed");
  const problems = [...failed, ...verdict.gaps].map((issue) => formatIssue(issue.file, issue.policyId, issue));
  if (options.requireOwner === true) {
    const fileOf = await policyFileNames(dir);
    for (const policy of set.describe()) {
      if (policy.owner === undefined) problems.push(formatIssue(fileOf(policy.id), policy.id, { path: "owner", message: "no owner (a team or contact is required)" }));
    }
  }
  return problems;
}
