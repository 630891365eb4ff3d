import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { InvalidArgumentError, type Command } from "commander";
import { parseDurationSeconds } from "../lib/durations.js";
import type { Log } from "../lib/log.js";
import { defaultBrokerUrl, TOKEN_LIFETIME_CEILING_SECONDS } from "../protocol/broker-defaults.js";
import { formatReport, verificationLine } from "./explain-report.js";
import { TokenRefused } from "./explain-token.js";
import { explainToken } from "./policy-explain.js";

/** Exit codes of `broker policy explain` (docs/policies.md, "Explain a decision"). */
export const EXPLAIN_EXIT = { granted: 0, error: 1, denied: 2 } as const;

/** The broker's default BROKER_MAX_TOKEN_LIFETIME (config.ts). */
const DEFAULT_MAX_TOKEN_LIFETIME = "15m";

const TOKEN_TYPES = ["access_token", "jwt", "x509_svid"] as const;

interface ExplainCliOptions {
  readonly dir: string;
  readonly issuers?: string;
  readonly trustDomain?: string;
  readonly token: string;
  readonly audience: string[];
  readonly resource: string[];
  readonly scope?: string;
  readonly tokenType: (typeof TOKEN_TYPES)[number];
  readonly lifetime?: number;
  readonly clientAddress: string;
  readonly now?: number;
  readonly verify?: boolean;
  readonly json?: boolean;
  readonly brokerIssuer: string;
  readonly maxTokenLifetime: string;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

const wholeSeconds = (text: string) => {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value <= 0 || value > 86_400) throw new InvalidArgumentError("whole seconds from 1 to 86400");
  return value;
};

/** `--now`: an ISO 8601 time or seconds since the epoch, as milliseconds. */
const instant = (text: string) => {
  const ms = /^[0-9]+$/.test(text) ? Number(text) * 1000 : Date.parse(text);
  if (!Number.isFinite(ms)) throw new InvalidArgumentError("an ISO 8601 time (2026-11-01T12:00:00Z) or seconds since the epoch");
  return ms;
};

const tokenType = (text: string) => {
  if (!(TOKEN_TYPES as readonly string[]).includes(text)) throw new InvalidArgumentError(TOKEN_TYPES.join(", "));
  return text;
};

/**
 * `broker policy explain` (on a command that already has --dir/--issuers/--trust-domain): what the
 * broker would decide for a real token and a request, and why. Exit 0 granted, 2 denied (or the
 * token itself refused), 1 when it cannot tell (usage, unreadable files, keys unreachable).
 */
export function addExplainCommand(command: Command): void {
  command
    .requiredOption("--token <file>", "the subject token: a file, or - for stdin (one trailing newline is dropped); never printed")
    .option("--audience <uri>", "audience to ask for (repeatable)", collect, [])
    .option("--resource <uri>", "resource to ask for (repeatable)", collect, [])
    .option("--scope <scopes>", "space-separated scopes to ask for")
    .option("--token-type <type>", `requested token type: ${TOKEN_TYPES.join(", ")}`, tokenType, "access_token")
    .option("--lifetime <seconds>", "requested lifetime", wholeSeconds)
    .option("--client-address <ip>", "request.client_address the policies see", "127.0.0.1")
    .option("--now <time>", "decision time: ISO 8601 or epoch seconds (default: now)", instant)
    .option("--verify", "verify signature, audience and times against the issuer's keys (fetched as the broker fetches them)")
    .option("--json", "print the report as JSON")
    .option("--broker-issuer <url>", "the broker's issuer URL (BROKER_ISSUER_URL): issuers' default audience", process.env.BROKER_ISSUER_URL ?? defaultBrokerUrl(process.env.BROKER_PORT))
    .option("--max-token-lifetime <duration>", "the broker's BROKER_MAX_TOKEN_LIFETIME", process.env.BROKER_MAX_TOKEN_LIFETIME ?? DEFAULT_MAX_TOKEN_LIFETIME)
    .action(async (options: ExplainCliOptions) => {
      process.exitCode = await runExplain(options);
    });
}

async function runExplain(options: ExplainCliOptions): Promise<number> {
  const fail = (message: string, code: number): number => {
    process.stderr.write(`broker policy explain: ${message}\n`);
    return code;
  };
  const maxTokenLifetimeSeconds = parseDurationSeconds(options.maxTokenLifetime);
  if (maxTokenLifetimeSeconds === undefined || maxTokenLifetimeSeconds <= 0 || maxTokenLifetimeSeconds > TOKEN_LIFETIME_CEILING_SECONDS) {
    return fail(`--max-token-lifetime ${JSON.stringify(options.maxTokenLifetime)} is not a duration up to 1h`, EXPLAIN_EXIT.error);
  }
  const dir = resolve(options.dir);
  try {
    const token = await readToken(options.token);
    const report = await explainToken(
      token,
      {
        policyDir: dir,
        issuersFile: resolve(options.issuers ?? join(dir, "issuers.yaml")),
        trustDomain: options.trustDomain,
        brokerIssuer: options.brokerIssuer,
        nowMs: options.now ?? Date.now(),
        verify: options.verify === true,
        audiences: options.audience,
        resources: options.resource,
        scopes: options.scope === undefined ? [] : options.scope.split(" ").filter((scope) => scope !== ""),
        tokenType: options.tokenType,
        lifetimeSeconds: options.lifetime,
        clientAddress: options.clientAddress,
        maxTokenLifetimeSeconds,
      },
      stderrLog,
    );
    process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return report.decision.allow ? EXPLAIN_EXIT.granted : EXPLAIN_EXIT.denied;
  } catch (error) {
    if (!(error instanceof TokenRefused)) return fail(error instanceof Error ? error.message : String(error), EXPLAIN_EXIT.error);
    const refusal = { verified: options.verify === true, refused: error.message };
    process.stdout.write(options.json ? `${JSON.stringify(refusal, null, 2)}\n` : `${verificationLine(refusal.verified)}\n\nrefused before any policy: ${error.message}\n`);
    return EXPLAIN_EXIT.denied;
  }
}

/** The token from a file or stdin (`-`), without one trailing newline (what `echo` and editors add). */
async function readToken(source: string): Promise<string> {
  const text = source === "-" ? await readStdin() : await readFile(resolve(source), "utf8");
  const token = text.replace(/\r?\n$/, "");
  if (token === "") throw new Error(`no token in ${source === "-" ? "stdin" : source}`);
  return token;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString("utf8");
}

/** Key-fetch problems the verifier reports, on stderr: the report on stdout stays clean for --json. */
const stderrLog: Log = {
  debug() {},
  info() {},
  warn: (fields, message) => process.stderr.write(`broker policy explain: ${message} ${JSON.stringify(fields)}\n`),
  error: (fields, message) => process.stderr.write(`broker policy explain: ${message} ${JSON.stringify(fields)}\n`),
};
