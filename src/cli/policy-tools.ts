import { join, resolve } from "node:path";
import type { Command } from "commander";
import { writeFileAtomic } from "../lib/atomic-file.js";
import { DEFAULT_POLICY_DIR } from "../protocol/broker-defaults.js";
import { generatePolicySchemas } from "./policy-json-schema.js";
import { lintCoverage } from "./policy-coverage.js";
import { addExplainCommand } from "./policy-explain-command.js";
import { lintPolicies } from "./policy-lint.js";
import { testPolicies } from "./policy-test.js";

interface PolicyFolderOptions {
  readonly dir: string;
  readonly issuers?: string;
  readonly trustDomain?: string;
}

/** `--require-owner` (true), or BROKER_POLICY_REQUIRE_OWNER read as the broker reads a flag: true, 1, false, 0. */
function requireOwner(value: boolean | string | undefined): boolean {
  if (typeof value === "boolean" || value === undefined || value === "") return value === true;
  if (["true", "1", "false", "0"].includes(value)) return value === "true" || value === "1";
  throw new Error(`BROKER_POLICY_REQUIRE_OWNER: must be true, false, 1 or 0 (got ${JSON.stringify(value)})`);
}

/** The options every command that loads a policy folder takes. */
function withPolicyFolder(command: Command): Command {
  return command
    .option("--dir <dir>", "policy folder", process.env.BROKER_POLICY_DIR ?? DEFAULT_POLICY_DIR)
    .option("--issuers <file>", "trusted issuers file (default: <dir>/issuers.yaml)")
    .option("--trust-domain <name>", "SPIFFE trust domain of granted SPIFFE IDs", process.env.BROKER_TRUST_DOMAIN);
}

/** `broker policy test`, `broker policy lint`, `broker policy explain` and `broker policy schema`. */
export function addPolicyTools(policy: Command): void {
  withPolicyFolder(policy.command("test").description("load the policies and run every *.test.yaml fixture beside them")).action(
    async (options: PolicyFolderOptions) => {
      const dir = resolve(options.dir);
      try {
        const results = await testPolicies(dir, resolve(options.issuers ?? join(dir, "issuers.yaml")), options.trustDomain);
        for (const result of results) {
          process.stdout.write(`${result.passed ? "ok  " : "FAIL"} ${result.file}: ${result.name}${result.passed ? "" : `\n     ${result.message}`}\n`);
        }
        const failed = results.filter((result) => !result.passed).length;
        process.stdout.write(`${results.length - failed} passed, ${failed} failed\n`);
        process.exitCode = failed > 0 || results.length === 0 ? 1 : 0;
      } catch (error) {
        process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
        process.exitCode = 1;
      }
    },
  );

  withPolicyFolder(
    policy
      .command("lint")
      .description("load and compile every policy and fixture file, run the fixtures, and print every problem: failing cases, policies without an allow or a deny fixture")
      .option("--require-owner", "a policy without `owner` is a problem (default: BROKER_POLICY_REQUIRE_OWNER)", process.env.BROKER_POLICY_REQUIRE_OWNER),
  )
    .action(async (options: PolicyFolderOptions & { readonly requireOwner?: boolean | string }) => {
      const dir = resolve(options.dir);
      try {
        const issuersFile = resolve(options.issuers ?? join(dir, "issuers.yaml"));
        const linted = await lintPolicies(dir, issuersFile, options.trustDomain);
        const { warnings } = linted;
        const problems = [
          ...linted.problems,
          ...(await lintCoverage(dir, issuersFile, { trustDomain: options.trustDomain, requireOwner: requireOwner(options.requireOwner) })),
        ];
        for (const problem of problems) process.stdout.write(`${problem}\n`);
        // Warnings do not fail the run: they point at what the type checker cannot see.
        for (const warning of warnings) process.stdout.write(`warning: ${warning}\n`);
        const warned = warnings.length === 0 ? "" : `, ${warnings.length} ${warnings.length === 1 ? "warning" : "warnings"}`;
        process.stdout.write(problems.length === 0 ? `${options.dir}: no problems${warned}\n` : `${problems.length} ${problems.length === 1 ? "problem" : "problems"}${warned}\n`);
        process.exitCode = problems.length === 0 ? 0 : 1;
      } catch (error) {
        process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
        process.exitCode = 1;
      }
    });

  addExplainCommand(
    withPolicyFolder(
      policy.command("explain").description("what the broker would decide for a real token and a request, and why: identity, each policy's verdict, the grant (exit 0 granted, 2 denied, 1 error)"),
    ),
  );

  policy
    .command("schema")
    .description("write policy.schema.json and policy-test.schema.json (JSON Schemas for editors) into the policy folder")
    .option("--dir <dir>", "policy folder", process.env.BROKER_POLICY_DIR ?? DEFAULT_POLICY_DIR)
    .action(async (options: { dir: string }) => {
      for (const [name, content] of Object.entries(generatePolicySchemas())) {
        await writeFileAtomic(join(resolve(options.dir), name), content, 0o644);
        process.stdout.write(`wrote ${join(options.dir, name)}\n`);
      }
    });
}
