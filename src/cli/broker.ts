#!/usr/bin/env node
import { resolve } from "node:path";
import { Command, InvalidArgumentError } from "commander";
import { PolicyLoadError } from "../policy/index.js";
import { addAdminCommands } from "./admin-commands.js";
import { mintDevToken } from "./dev-token.js";
import { addExchangeCommand } from "./exchange-command.js";
import { addKeysCommands } from "./keys-commands.js";
import { testPolicies } from "./policy-test.js";
import { addPolicyTools } from "./policy-tools.js";
import { addSvidCommand } from "./svid-command.js";

/** `broker`: operator and developer commands. The server itself starts with `npm start`. */
const program = new Command("broker").description("short-lived credential broker (RFC 8693 token exchange)");

const seconds = (text: string) => {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value <= 0 || value > 86_400) throw new InvalidArgumentError("whole seconds from 1 to 86400");
  return value;
};

const policy = program.command("policy").description("work with policy files");
policy
  .command("test")
  .description("load the policies and run every *.test.yaml fixture beside them")
  .option("--dir <dir>", "policy folder", process.env.BROKER_POLICY_DIR ?? "policies")
  .option("--issuers <file>", "trusted issuers file (default: <dir>/issuers.yaml)")
  .option("--trust-domain <name>", "SPIFFE trust domain of granted SPIFFE IDs", process.env.BROKER_TRUST_DOMAIN)
  .action(async (options: { dir: string; issuers?: string; trustDomain?: string }) => {
    const dir = resolve(options.dir);
    try {
      const results = await testPolicies(dir, resolve(options.issuers ?? `${dir}/issuers.yaml`), options.trustDomain);
      for (const result of results) {
        process.stdout.write(`${result.passed ? "ok  " : "FAIL"} ${result.file}: ${result.name}${result.passed ? "" : `\n     ${result.message}`}\n`);
      }
      const failed = results.filter((result) => !result.passed).length;
      process.stdout.write(`${results.length - failed} passed, ${failed} failed\n`);
      process.exitCode = failed > 0 || results.length === 0 ? 1 : 0;
    } catch (error) {
      process.stderr.write(`${error instanceof PolicyLoadError || error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    }
  });

addPolicyTools(policy);

program
  .command("dev-token")
  .description("mint a subject token from the local development issuer (keys/dev-issuer), for trying the broker out")
  .option("--subject <sub>", "sub claim", "demo-workload")
  .option("--audience <aud>", "aud claim: the broker's issuer URL", process.env.BROKER_ISSUER_URL ?? `http://127.0.0.1:${process.env.BROKER_PORT ?? "8080"}`)
  .option("--lifetime <seconds>", "token lifetime", seconds, 300)
  .option("--keys <dir>", "keys folder", process.env.BROKER_KEYS_DIR ?? "keys")
  .action(async (options: { subject: string; audience: string; lifetime: number; keys: string }) => {
    const token = await mintDevToken({
      keysDir: resolve(options.keys),
      subject: options.subject,
      audience: options.audience,
      lifetimeSeconds: options.lifetime,
      claims: {},
    });
    process.stdout.write(`${token}\n`);
  });

addAdminCommands(program);
addKeysCommands(program);
addExchangeCommand(program);
addSvidCommand(program);

await program.parseAsync();
