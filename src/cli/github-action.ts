import { randomBytes } from "node:crypto";
import { appendFile } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { TOKEN_TYPE } from "../protocol/token-types.js";
import { loadOrCreateDpopKey } from "./dpop-key.js";
import { runExchange, type ExchangeDeps } from "./exchange-client.js";
import { ExchangeFailure } from "./exchange-failure.js";
import { DEFAULT_RETRY_POLICY } from "./exchange-retry.js";

/**
 * The GitHub Action (`action.yml`): `broker exchange` driven the way the runner drives a
 * JavaScript action. Inputs arrive as `INPUT_<NAME>` environment variables (the name upper-cased,
 * spaces as `_`, hyphens kept); outputs are appended to the file `GITHUB_OUTPUT` names; secrets are
 * masked with `::add-mask::` on stdout before they can appear anywhere; a failure is an `::error::`
 * line and a non-zero exit. Nothing here prints a token.
 */

/** What the action reads and writes besides the network: the runner's environment and stdout. */
export interface ActionDeps extends Pick<ExchangeDeps, "fetch" | "sleep" | "random"> {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: (text: string) => void;
}

/** An input as the runner passes it: `INPUT_<NAME>`, trimmed; undefined when empty. */
function input(env: ActionDeps["env"], name: string): string | undefined {
  const value = env[`INPUT_${name.replaceAll(" ", "_").toUpperCase()}`]?.trim();
  return value === undefined || value === "" ? undefined : value;
}

/** Appends `name` to $GITHUB_OUTPUT in the multi-line form, under a delimiter the value cannot contain. */
async function setOutput(env: ActionDeps["env"], name: string, value: string): Promise<void> {
  const file = env.GITHUB_OUTPUT;
  if (file === undefined || file === "") throw new ExchangeFailure("GITHUB_OUTPUT is not set: this entry point runs inside a GitHub Actions job", "usage");
  const delimiter = `ghadelimiter_${randomBytes(16).toString("hex")}`;
  await appendFile(file, `${name}<<${delimiter}\n${value}\n${delimiter}\n`, "utf8");
}

/** Whole seconds from an input, or a usage failure naming it. */
function seconds(env: ActionDeps["env"], name: string, min: number, max: number): number | undefined {
  const text = input(env, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new ExchangeFailure(`input ${name} must be a whole number from ${min} to ${max}`, "usage");
  return value;
}

/**
 * Runs the action once. Resolves with the exit code: 0 when the credential was issued (output
 * `token` masked, or written to `token-file` with mode 0600), 1 otherwise, with output
 * `failure-kind` (refused, unavailable, usage, failed) so a workflow can tell them apart.
 */
export async function runGithubAction(deps: ActionDeps): Promise<number> {
  const { env } = deps;
  try {
    const broker = input(env, "broker-url");
    if (broker === undefined) throw new ExchangeFailure("input broker-url is required", "usage");
    const audiences = (input(env, "audience") ?? "").split(/\s+/).filter(Boolean);
    const tokenFile = input(env, "token-file");
    const out = tokenFile === undefined ? undefined : isAbsolute(tokenFile) ? tokenFile : join(env.GITHUB_WORKSPACE ?? process.cwd(), tokenFile);
    const dpopFile = input(env, "dpop-key");
    const dpopKey = dpopFile === undefined ? undefined : (await loadOrCreateDpopKey(resolve(dpopFile)).catch(usage)).key;
    const { expiresIn, token } = await exchange(deps, {
      broker,
      source: { github: true },
      audiences,
      scope: input(env, "scope"),
      lifetimeSeconds: seconds(env, "lifetime", 1, 86_400),
      subjectTokenType: TOKEN_TYPE.jwt,
      oidcAudience: input(env, "oidc-audience"),
      out,
      ...(dpopKey === undefined ? {} : { dpopKey }),
      retry: { ...DEFAULT_RETRY_POLICY, retries: seconds(env, "retries", 0, 10) ?? DEFAULT_RETRY_POLICY.retries },
    });
    if (out !== undefined) await setOutput(env, "token-file", out);
    else if (token !== undefined) await setOutput(env, "token", token);
    if (expiresIn !== undefined) await setOutput(env, "expires-in", String(expiresIn));
    return 0;
  } catch (error) {
    const kind = error instanceof ExchangeFailure ? error.kind : "failed";
    await setOutput(env, "failure-kind", kind).catch(() => undefined);
    // Workflow command values escape %, CR and LF (the runner's own encoding).
    const message = (error instanceof Error ? error.message : String(error)).replaceAll("%", "%25").replaceAll("\r", "%0D").replaceAll("\n", "%0A");
    deps.stdout(`::error title=credential broker (${kind})::${message}\n`);
    return 1;
  }
}

function usage(error: unknown): never {
  throw new ExchangeFailure(error instanceof Error ? error.message : String(error), "usage");
}

/** The exchange, keeping the credential in memory when no file was asked for (it becomes the masked output). */
async function exchange(deps: ActionDeps, request: Parameters<typeof runExchange>[0]): Promise<{ expiresIn: number | undefined; token: string | undefined }> {
  let token: string | undefined;
  const { expiresIn } = await runExchange(request, {
    fetch: deps.fetch,
    // Always masked: the runner sets GITHUB_ACTIONS; say so explicitly for the exchange client.
    env: { ...deps.env, GITHUB_ACTIONS: "true" },
    stdout: (text) => {
      // The mask commands go to the runner; the credential itself (printed when no file is asked) is kept.
      if (text.startsWith("::add-mask::")) deps.stdout(text);
      else token = text.trimEnd();
    },
    note: (line) => deps.stdout(`::warning title=credential broker::${line}\n`),
    ...(deps.sleep === undefined ? {} : { sleep: deps.sleep }),
    ...(deps.random === undefined ? {} : { random: deps.random }),
  });
  return { expiresIn, token };
}
