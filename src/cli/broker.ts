#!/usr/bin/env node
import { Command } from "commander";

/**
 * `broker`: operator and developer commands. The server itself starts with `npm start`.
 *
 * Each top-level command's module (and what it imports: X.509, policy compilation, ...) is loaded
 * only when that command runs, so a CI job's `broker exchange` starts without loading the rest;
 * `broker --help` or an unknown command loads them all, so help and errors list every command.
 */
type Registrar = () => Promise<(program: Command) => void>;

const policyTools: Registrar = async () => {
  const { addPolicyTools } = await import("./policy-tools.js");
  return (program) => addPolicyTools(program.command("policy").description("work with policy files"));
};
const adminCommands: Registrar = async () => (await import("./admin-commands.js")).addAdminCommands;

/** Top-level command name → the module that registers it. */
const REGISTRARS: Readonly<Record<string, Registrar>> = {
  policy: policyTools,
  "dev-token": async () => (await import("./dev-token-command.js")).addDevTokenCommand,
  revoke: adminCommands,
  revocations: adminCommands,
  unblock: adminCommands,
  inventory: async () => (await import("./inventory-command.js")).addInventoryCommand,
  keys: async () => (await import("./keys-commands.js")).addKeysCommands,
  ca: async () => (await import("./ca-commands.js")).addCaCommands,
  exchange: async () => (await import("./exchange-command.js")).addExchangeCommand,
  svid: async () => (await import("./svid-command.js")).addSvidCommand,
};

const program = new Command("broker").description("short-lived credential broker (RFC 8693 token exchange)");
const named = REGISTRARS[process.argv[2] ?? ""];
// In the order `broker --help` lists them.
for (const registrar of named === undefined ? new Set(Object.values(REGISTRARS)) : [named]) (await registrar())(program);

await program.parseAsync();
