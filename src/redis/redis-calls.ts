import { createHash } from "node:crypto";
import { Cluster, type Redis } from "ioredis";

/*
 * What every Redis adapter (revocation store, rate limiter) does the same way on the shared
 * client: bound a call in time, fail closed with its own error, run a Lua script on one key.
 */

/** An adapter's "cannot answer" error: callers fail closed on it (503). */
export type UnavailableError = new (message: string, options?: { cause?: unknown }) => Error;

/** The client's command timeout (ms), if set; for a Cluster, its node connections'. */
export function commandTimeoutOf(client: Redis | Cluster): number | undefined {
  return client instanceof Cluster ? client.options.redisOptions?.commandTimeout : client.options.commandTimeout;
}

/**
 * An adapter's bound on one call: the client's command timeout, 1000 ms when it has none. No
 * margin on top: ioredis fails a command after commandTimeout, but a command queued behind a
 * stalled pipeline starts its own timer late. This deadline holds from the call.
 */
export function defaultCallTimeoutMs(client: Redis | Cluster): number {
  return commandTimeoutOf(client) ?? 1000;
}

/**
 * Bounds `work` by `timeoutMs`, even if ioredis never answers, and turns every failure into
 * `Unavailable` ("redis <operation> …"); one already of that kind passes unchanged.
 */
export async function boundedCall<T>(operation: string, work: () => Promise<T>, timeoutMs: number, Unavailable: UnavailableError): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Unavailable(`redis ${operation}: no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([work(), deadline]);
  } catch (error) {
    if (error instanceof Unavailable) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new Unavailable(`redis ${operation} failed: ${message}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

/** A Lua script and its SHA-1, the name EVALSHA knows it by. */
export interface LuaScript {
  readonly lua: string;
  readonly sha: string;
}

export function luaScript(lua: string): LuaScript {
  return { lua, sha: createHash("sha1").update(lua).digest("hex") };
}

/**
 * Runs `script` on one key (so it runs on a Cluster too): EVALSHA, loading it with EVAL when the
 * server does not know it yet (NOSCRIPT).
 */
export async function evalScript(client: Redis | Cluster, script: LuaScript, key: string, args: readonly (string | number)[]): Promise<unknown> {
  try {
    return await client.evalsha(script.sha, 1, key, ...args);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
    return client.eval(script.lua, 1, key, ...args);
  }
}
