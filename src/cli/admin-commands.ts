import { InvalidArgumentError, Option, type Command } from "commander";
import { DEFAULT_PAGE_SIZE, defaultBrokerUrl, MAX_PAGE_SIZE } from "../protocol/broker-defaults.js";
import { AdminApiError, createAdminClient, listAllRevocations, type AdminClient } from "./admin-client.js";

const DEFAULT_REASON = "revoked with the broker CLI";

/** --url: the broker to talk to. The credential comes only from BROKER_ADMIN_TOKEN, never a flag (flags show in `ps`). */
export const urlOption = () => new Option("--url <url>", "broker base URL").default(process.env.BROKER_URL ?? defaultBrokerUrl());

/** RFC 3339 date-time or whole epoch seconds, as the admin API accepts. */
const instant = (text: string): string | number => {
  if (/^\d{1,12}$/.test(text)) return Number(text);
  if (Number.isNaN(Date.parse(text))) throw new InvalidArgumentError("an RFC 3339 time (2026-01-31T12:00:00Z) or epoch seconds");
  return text;
};

const pageSize = (text: string): number => {
  const value = Number(text);
  if (!/^[1-9][0-9]{0,3}$/.test(text) || value > MAX_PAGE_SIZE) throw new InvalidArgumentError(`whole number from 1 to ${MAX_PAGE_SIZE}`);
  return value;
};

/** Runs one admin call: prints its result (as JSON unless `format` says otherwise), or the server's error on stderr with exit code 1. */
export async function runAdminCall<T>(url: string, work: (client: AdminClient) => Promise<T>, format: (result: T) => string = asJson): Promise<void> {
  const token = process.env.BROKER_ADMIN_TOKEN;
  if (!token) {
    process.stderr.write("BROKER_ADMIN_TOKEN is not set: export the bootstrap admin secret or an admin-scoped broker token\n");
    process.exitCode = 2;
    return;
  }
  try {
    const result = await work(createAdminClient({ url, token }));
    process.stdout.write(format(result));
  } catch (error) {
    const message = error instanceof AdminApiError ? error.message : `cannot reach ${url}: ${error instanceof Error ? error.message : String(error)}`;
    process.stderr.write(`error: ${message}\n`);
    process.exitCode = 1;
  }
}

const asJson = (result: unknown): string => `${JSON.stringify(result, null, 2)}\n`;

/** `broker revoke`, `broker revocations list`, `broker unblock`: the operator side of the admin API. */
export function addAdminCommands(program: Command): void {
  const revoke = program
    .command("revoke")
    .description("revoke every credential of a workload (--workload, optionally --block) or one credential (--jti)")
    .option("--workload <id>", "workload id (the sub of its credentials)")
    .option("--jti <id>", "token id of one credential")
    .option("--reason <text>", "why (kept in the audit log)", DEFAULT_REASON)
    .option("--block", "also block new issuance to the workload until lifted (broker unblock)")
    .option("--until <time>", "with --block: end the block at this time (RFC 3339 or epoch seconds)", instant)
    .addOption(urlOption())
    .action(async (options: { workload?: string; jti?: string; reason: string; block?: boolean; until?: string | number; url: string }) => {
      if ((options.workload === undefined) === (options.jti === undefined)) revoke.error("error: give exactly one of --workload or --jti", { exitCode: 2 });
      if (options.jti !== undefined && options.block) revoke.error("error: --block applies to --workload only", { exitCode: 2 });
      if (options.until !== undefined && !options.block) revoke.error("error: --until needs --block", { exitCode: 2 });
      await runAdminCall(options.url, (client) =>
        options.workload !== undefined
          ? client.revokeWorkload({
              workload_id: options.workload,
              reason: options.reason,
              ...(options.block ? { block: true } : {}),
              ...(options.until !== undefined ? { block_until: options.until } : {}),
            })
          : client.revokeToken({ jti: options.jti ?? "", reason: options.reason }),
      );
    });

  const revocations = program.command("revocations").description("inspect revocation state");
  revocations
    .command("list")
    .description("list revoked tokens, revoked workloads and blocks in force (every page)")
    .option("--page-size <n>", `entries per request to the broker (1-${MAX_PAGE_SIZE}; default: the broker's, ${DEFAULT_PAGE_SIZE})`, pageSize)
    .addOption(urlOption())
    .action(async (options: { url: string; pageSize?: number }) => runAdminCall(options.url, (client) => listAllRevocations(client, options.pageSize)));

  program
    .command("unblock")
    .description("lift the block on a workload (its revoked credentials stay revoked)")
    .argument("<workload-id>", "workload id")
    .option("--reason <text>", "why (kept in the audit log)")
    .addOption(urlOption())
    .action(async (workloadId: string, options: { reason?: string; url: string }) =>
      runAdminCall(options.url, async (client) => {
        await client.unblock(workloadId, options.reason);
        return { unblocked: workloadId };
      }),
    );
}
