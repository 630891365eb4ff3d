import { resolve } from "node:path";
import { InvalidArgumentError, type Command } from "commander";
import { loadOrCreateDpopKey } from "./dpop-key.js";
import { TOKEN_TYPE } from "../protocol/token-types.js";
import { runExchange, type SubjectSource } from "./exchange-client.js";
import { EXIT_STATUS, ExchangeFailure } from "./exchange-failure.js";
import { DEFAULT_RETRY_POLICY } from "./exchange-retry.js";

const collect = (value: string, previous: string[] = []) => [...previous, value];

const wholeSeconds = (text: string) => {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value <= 0 || value > 86_400) throw new InvalidArgumentError("whole seconds from 1 to 86400");
  return value;
};

const retryCount = (text: string) => {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0 || value > 10) throw new InvalidArgumentError("a whole number from 0 to 10");
  return value;
};

interface ExchangeCliOptions {
  broker: string;
  audience: string[];
  scope?: string;
  lifetime?: number;
  tokenFile?: string;
  tokenEnv?: string;
  subjectTokenType: string;
  oidcAudience?: string;
  out?: string;
  dpopKey?: string;
  retries: number;
}

/**
 * `broker exchange`: the CI side. Gets the job's identity token (GitHub Actions OIDC, a file or
 * an environment variable), exchanges it at the broker and prints the access token or writes it
 * to a file (0600). Exit status: 0 issued, 2 refused, 3 unavailable after the retries, 64 usage
 * error (nothing sent), 1 anything else (exchange-failure.ts; docs/ci.md).
 */
export function addExchangeCommand(program: Command): void {
  program
    .command("exchange")
    .description("exchange this job's identity token at the broker for an access token (GitHub Actions, or --token-file/--token-env)")
    .option("--broker <url>", "broker base URL", process.env.BROKER_URL)
    .option("--audience <uri>", "audience to ask for (repeatable)", collect, [])
    .option("--scope <scopes>", "space-separated scopes to ask for")
    .option("--lifetime <seconds>", "requested lifetime (the policy may grant less)", wholeSeconds)
    .option("--token-file <file>", "read the subject token from this file (e.g. a Kubernetes projected token)")
    .option("--token-env <name>", "read the subject token from this environment variable (e.g. a GitLab id_token)")
    .option("--subject-token-type <uri>", "RFC 8693 subject_token_type", TOKEN_TYPE.jwt)
    .option("--oidc-audience <aud>", "GitHub Actions: audience of the OIDC token (default: the broker's issuer, from its metadata)")
    .option("--out <file>", "write the access token to this file (mode 0600) instead of stdout")
    .option("--dpop-key <file>", "bind the token to this EC P-256 key (RFC 9449 DPoP; PKCS#8 PEM, created with mode 0600 when missing)")
    .option("--retries <n>", "retries of a 429, 502, 503, 504 or network failure (Retry-After honoured up to 30 s, else 1 s, 2 s, ... backoff)", retryCount, DEFAULT_RETRY_POLICY.retries)
    .addHelpText("after", "\nExit status: 0 issued; 2 refused by the broker or the CI runner (fix the request or the policy); 3 unavailable after the retries (try later); 64 usage error (nothing was sent); 1 anything else.")
    // A bad option is a usage error like any other: the same exit status, not commander's 1.
    .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : EXIT_STATUS.usage))
    .action(async (options: ExchangeCliOptions) => {
      try {
        if (!options.broker) throw new ExchangeFailure("--broker <url> (or BROKER_URL) is required", "usage");
        if (options.tokenFile !== undefined && options.tokenEnv !== undefined) throw new ExchangeFailure("give --token-file or --token-env, not both", "usage");
        const source: SubjectSource =
          options.tokenFile !== undefined ? { file: resolve(options.tokenFile) } : options.tokenEnv !== undefined ? { env: options.tokenEnv } : { github: true };
        let dpopKey;
        if (options.dpopKey !== undefined) {
          const loaded = await loadOrCreateDpopKey(resolve(options.dpopKey)).catch((error: unknown) => {
            throw new ExchangeFailure(error instanceof Error ? error.message : String(error), "usage");
          });
          dpopKey = loaded.key;
          process.stderr.write(`${loaded.created ? "generated DPoP key" : "DPoP key"} ${options.dpopKey} (jkt ${loaded.key.jkt})\n`);
        }
        const { expiresIn } = await runExchange(
          {
            broker: options.broker,
            source,
            audiences: options.audience,
            scope: options.scope,
            lifetimeSeconds: options.lifetime,
            subjectTokenType: options.subjectTokenType,
            oidcAudience: options.oidcAudience,
            out: options.out === undefined ? undefined : resolve(options.out),
            ...(dpopKey === undefined ? {} : { dpopKey }),
            retry: { ...DEFAULT_RETRY_POLICY, retries: options.retries },
          },
          { fetch, env: process.env, stdout: (text) => process.stdout.write(text), note: (line) => process.stderr.write(`broker exchange: ${line}\n`) },
        );
        if (options.out !== undefined) process.stderr.write(`access token written to ${options.out}${expiresIn === undefined ? "" : ` (expires in ${expiresIn} s)`}\n`);
      } catch (error) {
        process.stderr.write(`broker exchange: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exitCode = error instanceof ExchangeFailure ? EXIT_STATUS[error.kind] : EXIT_STATUS.failed;
      }
    });
}
