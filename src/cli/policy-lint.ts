import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { FIXTURE_FILE_SUFFIX, loadPolicySet, PolicyLoadError, type KnownIssuer, type PolicyLoadIssue } from "../policy/index.js";
import { fixtureFileSchema } from "../policy/policy-schema.js";
import { formatIssue, parseYaml, zodIssues } from "../policy/yaml-source.js";
import { issuerProfiles } from "./policy-test.js";

/** What lint found: problems fail the run; warnings are printed and do not. Each is one formatted issue. */
export interface LintReport {
  readonly problems: string[];
  readonly warnings: string[];
}

/**
 * `broker policy lint`: everything `broker policy test` checks before it runs a fixture, and
 * nothing it needs to run one. Loads and compiles every policy (schema, CEL, issuers, trust
 * domain) and parses every fixture file, then checks what fixtures refer to (policy ids,
 * issuer ids). Returns every problem as `file [policy-id] path: message`, in file order, and
 * every warning (a condition that reads only the raw `claims`) the same way.
 */
export async function lintPolicies(dir: string, issuersFile: string, trustDomain?: string): Promise<LintReport> {
  const problems: string[] = [];
  const warnings: string[] = [];
  let issuers: KnownIssuer[] | undefined;
  try {
    issuers = await issuerProfiles(issuersFile);
  } catch (error) {
    problems.push(`${issuersFile}: cannot read the issuer ids (${error instanceof Error ? error.message.split("\n")[0] : String(error)})`);
  }

  let policyIds: ReadonlySet<string> | undefined;
  try {
    const onWarning = (warning: PolicyLoadIssue) => warnings.push(formatIssue(warning.file, warning.policyId, warning));
    const set = await loadPolicySet(dir, { knownIssuers: issuers ?? [], trustDomain, onWarning });
    policyIds = new Set(set.policyIds);
  } catch (error) {
    if (!(error instanceof PolicyLoadError)) throw error;
    // Unknown-issuer errors are noise when the issuers file itself is what is broken.
    const relevant = error.issues.filter((issue) => issuers !== undefined || issue.path !== "issuer");
    problems.push(...relevant.map((issue) => formatIssue(issue.file, issue.policyId, issue)));
  }

  const fixtureFiles = (await readdir(dir, { withFileTypes: true }))
    .filter((entry) => entry.isFile() && entry.name.endsWith(FIXTURE_FILE_SUFFIX))
    .map((entry) => entry.name)
    .sort();
  for (const file of fixtureFiles) {
    const yaml = parseYaml(await readFile(join(dir, file), "utf8"));
    if (!yaml.ok) {
      problems.push(...yaml.issues.map((issue) => formatIssue(file, undefined, issue)));
      continue;
    }
    const parsed = fixtureFileSchema.safeParse(yaml.value);
    if (!parsed.success) {
      problems.push(...zodIssues(parsed.error).map((issue) => formatIssue(file, undefined, issue)));
      continue;
    }
    parsed.data.policy_tests.forEach((testCase, index) => {
      const at = (path: string, message: string) => formatIssue(file, undefined, { path: `policy_tests.${index}.${path}`, message: `${message} (case "${testCase.name}")` });
      if (issuers !== undefined && !issuers.some((issuer) => issuer.id === testCase.identity.issuer)) {
        problems.push(at("identity.issuer", `unknown issuer ${JSON.stringify(testCase.identity.issuer)}`));
      }
      const expected = testCase.expect.allow ? testCase.expect.policy : undefined;
      if (policyIds !== undefined && expected !== undefined && !policyIds.has(expected)) {
        problems.push(at("expect.policy", `no policy has id ${JSON.stringify(expected)}`));
      }
    });
  }
  return { problems, warnings };
}
