import { randomBytes } from "node:crypto";
import { open, readFile, rm, stat } from "node:fs/promises";
import { z } from "zod";
import { writeFileAtomic } from "../lib/atomic-file.js";
import { TOKEN_EXCHANGE_GRANT } from "../protocol/token-types.js";
import type { DpopClientKey } from "./dpop-key.js";
import { ExchangeFailure, failureKindOf, retryAfterSeconds } from "./exchange-failure.js";
import { DEFAULT_RETRY_POLICY, withRetries, type RetryDeps, type RetryPolicy } from "./exchange-retry.js";

export { ExchangeFailure } from "./exchange-failure.js";

/**
 * The client side of token exchange, for CI jobs (`broker exchange`): get the job's own identity
 * token, exchange it at the broker, hand the credential over. Never prints or logs a token except
 * the one credential it was asked to print (after masking it in GitHub Actions).
 */

/** Where the subject token comes from; GitHub Actions when neither file nor env var is named. */
export type SubjectSource = { readonly file: string } | { readonly env: string } | { readonly github: true };

export interface ExchangeRequest {
  /** Broker base URL, e.g. https://broker.example.com. */
  readonly broker: string;
  readonly source: SubjectSource;
  readonly audiences: readonly string[];
  readonly scope?: string;
  /** RFC 8693 has none; the broker reads `requested_lifetime` (whole seconds). */
  readonly lifetimeSeconds?: number;
  readonly subjectTokenType: string;
  /** `aud` to ask the GitHub runner for; default: the broker's issuer from its metadata. */
  readonly oidcAudience?: string;
  /** Write the access token here (mode 0600, atomically) instead of printing it. */
  readonly out?: string;
  readonly timeoutMs?: number;
  /** Bind the token to this key (RFC 9449): a DPoP proof goes with the request. */
  readonly dpopKey?: DpopClientKey;
  /** How `unavailable` failures are retried; default 2 retries, Retry-After honoured up to 30 s. */
  readonly retry?: RetryPolicy;
}

export interface ExchangeDeps extends Partial<RetryDeps> {
  readonly fetch: typeof fetch;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: (text: string) => void;
}

/** GitHub Actions exposes the OIDC token endpoint only to jobs with `permissions: id-token: write`. */
function inGithubActions(env: Readonly<Record<string, string | undefined>>): boolean {
  return Boolean(env.ACTIONS_ID_TOKEN_REQUEST_URL && env.ACTIONS_ID_TOKEN_REQUEST_TOKEN);
}

const tokenResponse = z.object({ access_token: z.string().min(1), expires_in: z.number().optional() });
const errorResponse = z.object({ error: z.string(), error_description: z.string().optional() });

/**
 * Runs the whole exchange; resolves with the expiry in seconds, rejects with {@link ExchangeFailure}.
 * `--out` is checked first, so a single-use subject token is never spent on a credential that
 * cannot be written. Each retry gets the subject token afresh (a new OIDC token from the GitHub
 * runner; the file re-read, as a projected token rotates), since the broker may have used the last one.
 */
export async function runExchange(request: ExchangeRequest, deps: ExchangeDeps): Promise<{ expiresIn: number | undefined }> {
  if (request.out !== undefined) await checkWritable(request.out);
  const github = inGithubActions(deps.env);
  const mask = (secret: string) => {
    // GitHub Actions workflow command: the runner redacts the value from every later log line.
    if (github || deps.env.GITHUB_ACTIONS === "true") deps.stdout(`::add-mask::${secret}\n`);
  };
  const broker = request.broker.replace(/\/+$/, "");
  const timeout = () => AbortSignal.timeout(request.timeoutMs ?? 15_000);
  const retryDeps: RetryDeps = {
    sleep: deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    note: deps.note ?? (() => undefined),
    random: deps.random ?? Math.random,
  };
  const accessToken = await withRetries(
    async () => {
      const subjectToken = await readSubjectToken(request, deps, broker, timeout);
      mask(subjectToken);
      return exchangeOnce(request, deps, { broker, subjectToken, timeout });
    },
    request.retry ?? DEFAULT_RETRY_POLICY,
    retryDeps,
  );
  mask(accessToken.token);
  if (request.out !== undefined) {
    await writeFileAtomic(request.out, `${accessToken.token}\n`, 0o600);
  } else {
    deps.stdout(`${accessToken.token}\n`);
  }
  return { expiresIn: accessToken.expiresIn };
}

/** One POST /token (and its one DPoP nonce retry): the access token, or why not. */
async function exchangeOnce(
  request: ExchangeRequest,
  deps: ExchangeDeps,
  context: { readonly broker: string; readonly subjectToken: string; readonly timeout: () => AbortSignal },
): Promise<{ token: string; expiresIn: number | undefined }> {
  const form = new URLSearchParams({ grant_type: TOKEN_EXCHANGE_GRANT, subject_token: context.subjectToken, subject_token_type: request.subjectTokenType });
  for (const audience of request.audiences) form.append("audience", audience);
  if (request.scope !== undefined) form.set("scope", request.scope);
  if (request.lifetimeSeconds !== undefined) form.set("requested_lifetime", String(request.lifetimeSeconds));
  const tokenUrl = `${context.broker}/token`;
  const post = async (nonce?: string) => {
    const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded", accept: "application/json" };
    if (request.dpopKey !== undefined) headers.dpop = await request.dpopKey.proof("POST", tokenUrl, nonce);
    return call(() => deps.fetch(tokenUrl, { method: "POST", headers, body: form, signal: context.timeout() }), `POST ${tokenUrl}`);
  };
  let res = await post();
  let body = await readJson(res);
  // RFC 9449 §8: a broker that requires nonces answers use_dpop_nonce with one; try once more with it.
  const nonce = res.headers.get("dpop-nonce");
  if (request.dpopKey !== undefined && res.status === 400 && nonce !== null && errorResponse.safeParse(body).data?.error === "use_dpop_nonce") {
    res = await post(nonce);
    body = await readJson(res);
  }
  if (!res.ok) {
    const problem = errorResponse.safeParse(body);
    throw new ExchangeFailure(
      problem.success ? `broker refused the exchange (${res.status} ${problem.data.error})${problem.data.error_description ? `: ${problem.data.error_description}` : ""}` : `broker answered ${res.status} without an OAuth error`,
      failureKindOf(res.status),
      retryAfterSeconds(res.headers.get("retry-after"), Date.now()),
    );
  }
  const issued = tokenResponse.safeParse(body);
  if (!issued.success) throw new ExchangeFailure("broker answered 200 without an access_token");
  return { token: issued.data.access_token, expiresIn: issued.data.expires_in };
}

/**
 * Whether the credential could be written to `out`: a probe file created (exclusively, 0600) and
 * removed in its folder, as the atomic write will. Catches a missing or read-only folder, a
 * directory named as the file, and missing permissions, before any token is asked for.
 */
async function checkWritable(out: string): Promise<void> {
  const existing = await stat(out).catch(() => undefined);
  if (existing?.isDirectory()) throw new ExchangeFailure(`--out ${out} is a directory; nothing was exchanged`, "usage");
  const probe = `${out}.${process.pid}.${randomBytes(4).toString("hex")}.probe`;
  try {
    await (await open(probe, "wx", 0o600)).close();
    await rm(probe, { force: true });
  } catch (error) {
    throw new ExchangeFailure(`--out ${out} cannot be written (${(error as NodeJS.ErrnoException).code ?? "error"}); nothing was exchanged`, "usage");
  }
}

async function readSubjectToken(request: ExchangeRequest, deps: ExchangeDeps, broker: string, timeout: () => AbortSignal): Promise<string> {
  const source = request.source;
  if ("file" in source) {
    const text = await readFile(source.file, "utf8").catch((error: NodeJS.ErrnoException) => {
      throw new ExchangeFailure(`cannot read the subject token file ${source.file} (${error.code ?? error.message})`, "usage");
    });
    return nonEmpty(text.trim(), `the subject token file ${source.file} is empty`);
  }
  if ("env" in source) return nonEmpty(deps.env[source.env]?.trim() ?? "", `environment variable ${source.env} is unset or empty`);
  if (!inGithubActions(deps.env)) {
    throw new ExchangeFailure("no subject token: pass --token-file or --token-env, or run in GitHub Actions with `permissions: id-token: write`", "usage");
  }
  const audience = request.oidcAudience ?? (await brokerIssuer(broker, deps, timeout));
  const url = new URL(deps.env.ACTIONS_ID_TOKEN_REQUEST_URL ?? "");
  url.searchParams.set("audience", audience);
  const res = await call(
    () => deps.fetch(url, { headers: { authorization: `bearer ${deps.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN ?? ""}`, accept: "application/json" }, signal: timeout() }),
    "the GitHub Actions OIDC token request",
  );
  if (!res.ok) {
    const kind = failureKindOf(res.status);
    throw new ExchangeFailure(
      kind === "refused" ? `GitHub Actions refused the OIDC token request (${res.status}): does the job have \`permissions: id-token: write\`?` : `the GitHub Actions OIDC token request answered ${res.status}`,
      kind,
      retryAfterSeconds(res.headers.get("retry-after"), Date.now()),
    );
  }
  const value = z.object({ value: z.string().min(1) }).safeParse(await readJson(res));
  if (!value.success) throw new ExchangeFailure("GitHub Actions answered the OIDC token request without a token");
  return value.data.value;
}

/** RFC 8414 metadata: the issuer is the audience the broker expects subject tokens to carry. */
async function brokerIssuer(broker: string, deps: ExchangeDeps, timeout: () => AbortSignal): Promise<string> {
  const url = `${broker}/.well-known/oauth-authorization-server`;
  const res = await call(() => deps.fetch(url, { headers: { accept: "application/json" }, signal: timeout() }), `GET ${url} (the broker's metadata, for the OIDC token's audience)`);
  if (!res.ok && failureKindOf(res.status) === "unavailable") {
    throw new ExchangeFailure(`the broker metadata request ${broker}/.well-known/oauth-authorization-server answered ${res.status}`, "unavailable", retryAfterSeconds(res.headers.get("retry-after"), Date.now()));
  }
  const metadata = z.object({ issuer: z.string().min(1) }).safeParse(res.ok ? await readJson(res) : undefined);
  if (!metadata.success) throw new ExchangeFailure(`no issuer in ${broker}/.well-known/oauth-authorization-server (${res.status}): pass --oidc-audience`);
  return metadata.data.issuer;
}

async function call(send: () => Promise<Response>, what: string): Promise<Response> {
  try {
    return await send();
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    // A network error or a timeout: the broker may be restarting or overloaded.
    throw new ExchangeFailure(`${what} failed: ${cause ?? (error instanceof Error ? error.message : String(error))}`, "unavailable");
  }
}

async function readJson(res: Response): Promise<unknown> {
  try {
    return JSON.parse(await res.text());
  } catch {
    return undefined;
  }
}

function nonEmpty(value: string, problem: string): string {
  if (value === "") throw new ExchangeFailure(problem, "usage");
  return value;
}
