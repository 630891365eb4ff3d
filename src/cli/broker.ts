#!/usr/bin/env node
import { resolve } from "node:path";
import { Command, InvalidArgumentError } from "commander";
import { DEFAULT_KEYS_DIR, defaultBrokerUrl } from "../protocol/broker-defaults.js";
import { addAdminCommands } from "./admin-commands.js";
import { mintDevToken } from "./dev-token.js";
import { addExchangeCommand } from "./exchange-command.js";
import { addInventoryCommand } from "./inventory-command.js";
import { addKeysCommands } from "./keys-commands.js";
import { addPolicyTools } from "./policy-tools.js";
import { addSvidCommand } from "./svid-command.js";

/** `broker`: operator and developer commands. The server itself starts with `npm start`. */
const program = new Command("broker").description("short-lived credential broker (RFC 8693 token exchange)");

const seconds = (text: string) => {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value <= 0 || value > 86_400) throw new InvalidArgumentError("whole seconds from 1 to 86400");
  return value;
};

addPolicyTools(program.command("policy").description("work with policy files"));

program
  .command("dev-token")
  .description("mint a subject token from the local development issuer (keys/dev-issuer), for trying the broker out")
  .option("--subject <sub>", "sub claim", "demo-workload")
  .option("--audience <aud>", "aud claim: the broker's issuer URL", process.env.BROKER_ISSUER_URL ?? defaultBrokerUrl(process.env.BROKER_PORT))
  .option("--lifetime <seconds>", "token lifetime", seconds, 300)
  .option("--keys <dir>", "keys folder", process.env.BROKER_KEYS_DIR ?? DEFAULT_KEYS_DIR)
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
addInventoryCommand(program);
addKeysCommands(program);
addExchangeCommand(program);
addSvidCommand(program);

await program.parseAsync();
