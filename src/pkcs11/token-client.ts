import { Worker } from "node:worker_threads";
import { BrokerError } from "../errors/broker-error.js";
import { silentLog, type Log } from "../lib/log.js";
import type { TokenCallName, TokenCalls, TokenOpenSettings, TokenReply, TokenRequest, TokenSession } from "./token-protocol.js";

/** BROKER_PKCS11_TIMEOUT_MS's default: the bound on one token call, from submission to answer. */
export const DEFAULT_TOKEN_TIMEOUT_MS = 2_000;
/** Calls waiting for the token at once; beyond it a call is refused at once rather than queued. */
export const DEFAULT_TOKEN_QUEUE = 256;
/** The bound on opening the token (start the worker, load the module, log in). */
const OPEN_TIMEOUT_MS = 30_000;
/** How long one failed call keeps the token "not ready" (the Retry-After a 503 carries). */
export const TOKEN_FAILURE_HOLD_MS = 2_000;

/** A token call that failed, timed out or was refused: the token cannot sign now. Safe to log. */
export class TokenUnavailableError extends Error {
  override readonly name = "TokenUnavailableError";
}

/**
 * A token signature that failed, as the request sees it: 503 temporarily_unavailable, asking the
 * caller back after the token's failure hold. The client has already logged the one line saying why.
 */
export function cannotSignNow(what: string, error: unknown): BrokerError {
  return new BrokerError("temporarily_unavailable", `${what} cannot sign right now; retry shortly`, {
    detail: error instanceof Error ? error.message : String(error),
    cause: error,
    retryAfterSeconds: TOKEN_FAILURE_HOLD_MS / 1000,
  });
}

export interface TokenClientOptions {
  readonly timeoutMs?: number;
  readonly maxQueued?: number;
  readonly log?: Log;
  /** The worker script (default: token-worker beside this file); a test may wrap it. */
  readonly workerUrl?: URL;
  readonly workerData?: unknown;
  /** Told of every call's end: the metrics count them (open-adapters.ts wires it). */
  readonly onCall?: (call: TokenCallName, outcome: TokenCallOutcome, seconds: number | undefined) => void;
}

/** How a call ended: answered; answered with an error; no answer in time; never sent (queue full, worker gone). */
export type TokenCallOutcome = "ok" | "failed" | "timeout" | "refused";

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  readonly timer: NodeJS.Timeout;
}

/**
 * The broker's one line to a PKCS#11 token: every call runs in ONE worker thread (PKCS#11
 * sessions are not for concurrent use, and a blocking module call must not stall the event loop),
 * bounded by a deadline counted from submission, behind a bounded queue. A call that fails or
 * misses its deadline rejects with a {@link TokenUnavailableError} and writes one log line, with
 * the call's name and label, never the PIN or key material.
 */
export class TokenClient {
  private readonly pending = new Map<number, Pending>();
  /** Calls posted to the worker and not answered yet, whether or not their callers still wait. */
  private readonly posted = new Set<number>();
  private nextId = 1;
  private exited: string | undefined;
  private lastFailureAt = Number.NEGATIVE_INFINITY;
  private readonly timeoutMs: number;
  private readonly maxQueued: number;
  private readonly log: Log;
  private readonly onCall: NonNullable<TokenClientOptions["onCall"]>;

  private opened: TokenSession = { slotId: -1, tokenLabel: "" };

  private constructor(
    private readonly worker: Worker,
    options: TokenClientOptions,
  ) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TOKEN_TIMEOUT_MS;
    this.maxQueued = options.maxQueued ?? DEFAULT_TOKEN_QUEUE;
    this.log = options.log ?? silentLog;
    this.onCall = options.onCall ?? (() => undefined);
  }

  /** Starts the worker and opens the token (module, token, login); throws with what went wrong. */
  static async open(settings: TokenOpenSettings, options: TokenClientOptions = {}): Promise<TokenClient> {
    const worker = startWorker(options);
    const client = new TokenClient(worker, options);
    client.listen();
    try {
      client.opened = await client.call("open", settings);
      return client;
    } catch (error) {
      await worker.terminate();
      throw error;
    }
  }

  /** Runs one token call within the deadline; rejects with TokenUnavailableError otherwise. */
  call<K extends TokenCallName>(name: K, ...args: Parameters<TokenCalls[K]>): Promise<ReturnType<TokenCalls[K]>> {
    const label = typeof args[0] === "string" && name !== "open" ? args[0] : undefined;
    const refuse = (reason: string) => {
      this.onCall(name, "refused", undefined);
      return Promise.reject(this.failed(name, label, reason));
    };
    if (this.exited !== undefined) return refuse(`the token worker stopped (${this.exited})`);
    // Counted until the worker answers, even past a caller's deadline: a wedged token holds every
    // call posted to it, and beyond the bound the next is refused at once instead of piling up.
    if (this.posted.size >= this.maxQueued) return refuse(`${this.posted.size} token calls already waiting (queue bound)`);
    const id = this.nextId++;
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    // Opening loads the module and logs in once, on a worker still starting: it gets longer.
    const timeoutMs = name === "open" ? Math.max(this.timeoutMs, OPEN_TIMEOUT_MS) : this.timeoutMs;
    const deadline = Date.now() + timeoutMs;
    return new Promise<ReturnType<TokenCalls[K]>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.onCall(name, "timeout", undefined);
        reject(this.failed(name, label, `no answer within ${timeoutMs} ms${name === "open" ? "" : " (BROKER_PKCS11_TIMEOUT_MS)"}`));
      }, timeoutMs);
      timer.unref();
      this.pending.set(id, {
        resolve: (value) => {
          this.onCall(name, "ok", seconds());
          resolve(value as ReturnType<TokenCalls[K]>);
        },
        reject: (error) => {
          this.onCall(name, "failed", seconds());
          reject(name === "open" ? error : this.failed(name, label, error.message));
        },
        timer,
      });
      const request: TokenRequest = { id, name, args, deadline };
      this.posted.add(id);
      this.worker.postMessage(request);
    });
  }

  /** /readyz: the token answers a cheap call within the deadline, and no call failed in the last 2 s. */
  async readiness(): Promise<{ readonly ok: boolean; readonly detail: string }> {
    try {
      await this.call("ping");
    } catch (error) {
      return { ok: false, detail: `PKCS#11 token not answering: ${(error as Error).message}` };
    }
    const since = performance.now() - this.lastFailureAt;
    if (since < TOKEN_FAILURE_HOLD_MS) return { ok: false, detail: `PKCS#11 token failed a call ${Math.round(since)} ms ago` };
    return { ok: true, detail: `pkcs11 token "${this.session.tokenLabel}" (slot ${this.session.slotId})` };
  }

  /** Closes the session and stops the worker; calls still waiting are refused. */
  async close(): Promise<void> {
    if (this.exited === undefined) await this.call("close").catch(() => undefined);
    this.exited ??= "closed";
    await this.worker.terminate();
  }

  /** The slot and token the session is on. */
  get session(): TokenSession {
    return this.opened;
  }

  private listen(): void {
    this.worker.on("message", (reply: TokenReply) => {
      this.posted.delete(reply.id);
      const waiting = this.pending.get(reply.id);
      if (waiting === undefined) return; // answered already: its deadline passed
      this.pending.delete(reply.id);
      clearTimeout(waiting.timer);
      if (reply.ok) waiting.resolve(reply.value);
      else waiting.reject(new Error(reply.message));
    });
    const stop = (why: string) => {
      this.exited ??= why;
      this.posted.clear();
      for (const [id, waiting] of this.pending) {
        this.pending.delete(id);
        clearTimeout(waiting.timer);
        waiting.reject(new Error(`the token worker stopped (${why})`));
      }
    };
    this.worker.on("error", (error) => stop(error.message));
    this.worker.on("exit", (code) => stop(`exit code ${code}`));
  }

  private failed(name: TokenCallName, label: string | undefined, reason: string): TokenUnavailableError {
    this.lastFailureAt = performance.now();
    this.log.error({ pkcs11Call: name, ...(label === undefined ? {} : { keyLabel: label }), reason }, "PKCS#11 token call failed: requests that need it answer 503");
    return new TokenUnavailableError(`PKCS#11 ${name}${label === undefined ? "" : ` ${JSON.stringify(label)}`}: ${reason}`);
  }
}

/**
 * The worker on its script: the compiled .js as is; the .ts source (tests, `tsx src/main.ts`)
 * through tsx's loader, registered inside the worker (a worker's execArgv cannot carry --import).
 */
function startWorker(options: TokenClientOptions): Worker {
  const url = options.workerUrl ?? new URL(`./token-worker${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url);
  const worker = url.pathname.endsWith(".ts")
    ? new Worker(`import("tsx/esm/api").then((tsx) => tsx.tsImport(${JSON.stringify(url.href)}, ${JSON.stringify(import.meta.url)}))`, { eval: true, workerData: options.workerData })
    : new Worker(url, { workerData: options.workerData });
  worker.unref();
  return worker;
}
