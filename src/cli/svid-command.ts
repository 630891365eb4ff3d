import { randomInt } from "node:crypto";
import { resolve } from "node:path";
import { InvalidArgumentError, type Command } from "commander";
import { defaultBrokerUrl } from "../protocol/broker-defaults.js";
import { TOKEN_TYPE } from "../protocol/token-types.js";
import { KEY_TYPES, renewLoop, requestSvid, SvidFailure, writeSvidFiles, type KeyType, type SvidRequest } from "./svid-client.js";

interface SvidCliOptions {
  broker: string;
  tokenFile?: string;
  tokenType: string;
  out: string;
  keyType: KeyType;
  renew?: boolean;
  once?: boolean;
}

const keyType = (text: string): KeyType => {
  const found = KEY_TYPES.find((name) => name === text);
  if (found === undefined) throw new InvalidArgumentError(`one of ${KEY_TYPES.join(", ")}`);
  return found;
};

/**
 * `broker svid`: a workload's start-up helper (docs/kubernetes.md). Gets an X.509-SVID for a key
 * generated here and writes svid.pem, svid.key (0600) and bundle.pem into --out; with --renew it
 * keeps running and renews at half-life until SIGTERM/SIGINT. Logs to stderr, never a secret.
 */
export function addSvidCommand(program: Command): void {
  program
    .command("svid")
    .description("get an X.509-SVID for a locally generated key and write svid.pem, svid.key and bundle.pem (--renew: keep them fresh)")
    .option("--broker <url>", "broker base URL", process.env.BROKER_URL ?? defaultBrokerUrl())
    .option("--token-file <file>", "the platform token (e.g. a Kubernetes projected service-account token), re-read for every request")
    .option("--token-type <uri>", "subject_token_type of the platform token", TOKEN_TYPE.jwt)
    .option("--out <dir>", "folder for svid.pem, svid.key and bundle.pem", ".")
    .option("--key-type <type>", `key to generate: ${KEY_TYPES.join(", ")}`, keyType, "ec-p256")
    .option("--renew", "keep running: renew at half of each SVID's lifetime (with jitter) until SIGTERM/SIGINT")
    .option("--once", "get one SVID and exit (the default)")
    .action(async (options: SvidCliOptions) => {
      const log = (line: string) => process.stderr.write(`broker svid: ${line}\n`);
      const controller = new AbortController();
      const stop = () => controller.abort();
      try {
        if (options.renew && options.once) throw new SvidFailure("give --once or --renew, not both");
        if (options.tokenFile === undefined) throw new SvidFailure("--token-file <file> is required");
        const request: SvidRequest = { broker: options.broker, tokenFile: resolve(options.tokenFile), tokenType: options.tokenType, keyType: options.keyType };
        const out = resolve(options.out);
        const deps = { fetch, now: Date.now };
        if (options.renew) {
          process.on("SIGTERM", stop);
          process.on("SIGINT", stop);
        }
        const svid = await requestSvid(request, deps);
        await writeSvidFiles(out, svid);
        const receivedAt = Date.now();
        log(`wrote ${svid.spiffeId} to ${out}: serial ${svid.serial}, expires ${new Date(svid.notAfter).toISOString()}`);
        if (!options.renew) return;
        await renewLoop(request, out, svid, receivedAt, { ...deps, random: () => randomInt(0, 1_000_000) / 1_000_000, log, signal: controller.signal });
        log("stopped");
      } catch (error) {
        log(error instanceof Error ? error.message : String(error));
        process.exitCode = 1;
      } finally {
        process.off("SIGTERM", stop);
        process.off("SIGINT", stop);
      }
    });
}
