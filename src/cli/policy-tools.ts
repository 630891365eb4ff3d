import { join, resolve } from "node:path";
import type { Command } from "commander";
import { writeFileAtomic } from "../lib/atomic-file.js";
import { generatePolicySchemas } from "./policy-json-schema.js";
import { lintPolicies } from "./policy-lint.js";

/** `broker policy lint` and `broker policy schema`, beside `broker policy test`. */
export function addPolicyTools(policy: Command): void {
  policy
    .command("lint")
    .description("load and compile every policy and fixture file without running fixtures; print every problem")
    .option("--dir <dir>", "policy folder", process.env.BROKER_POLICY_DIR ?? "policies")
    .option("--issuers <file>", "trusted issuers file (default: <dir>/issuers.yaml)")
    .option("--trust-domain <name>", "SPIFFE trust domain of granted SPIFFE IDs", process.env.BROKER_TRUST_DOMAIN)
    .action(async (options: { dir: string; issuers?: string; trustDomain?: string }) => {
      const dir = resolve(options.dir);
      try {
        const problems = await lintPolicies(dir, resolve(options.issuers ?? join(dir, "issuers.yaml")), options.trustDomain);
        for (const problem of problems) process.stdout.write(`${problem}\n`);
        process.stdout.write(problems.length === 0 ? `${options.dir}: no problems\n` : `${problems.length} ${problems.length === 1 ? "problem" : "problems"}\n`);
        process.exitCode = problems.length === 0 ? 0 : 1;
      } catch (error) {
        process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
        process.exitCode = 1;
      }
    });

  policy
    .command("schema")
    .description("write policy.schema.json and policy-test.schema.json (JSON Schemas for editors) into the policy folder")
    .option("--dir <dir>", "policy folder", process.env.BROKER_POLICY_DIR ?? "policies")
    .action(async (options: { dir: string }) => {
      for (const [name, content] of Object.entries(generatePolicySchemas())) {
        await writeFileAtomic(join(resolve(options.dir), name), content, 0o644);
        process.stdout.write(`wrote ${join(options.dir, name)}\n`);
      }
    });
}
