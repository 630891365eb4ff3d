import { createHash } from "node:crypto";
import { Cluster, type Redis } from "ioredis";
import { coalesceWrites } from "./coalesce-writes.js";

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
 *
 * One promise, one timer and two callbacks per call, not an async function racing a deadline
 * promise: every Redis read and write of every request comes through here (four or five per
 * exchange), and `Promise.race` plus the async frame allocated ~1.5 KB per call (bench/README.md).
 */
export function boundedCall<T>(operation: string, work: () => Promise<T>, timeoutMs: number, Unavailable: UnavailableError): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Unavailable(`redis ${operation}: no answer within ${timeoutMs} ms`)), timeoutMs);
    const fail = (error: unknown): void => {
      clearTimeout(timer);
      reject(unavailable(operation, error, Unavailable));
    };
    let pending: Promise<T>;
    try {
      pending = work();
    } catch (error) {
      fail(error);
      return;
    }
    pending.then((value) => {
      clearTimeout(timer);
      resolve(value);
    }, fail);
  });
}

/** `error` as `Unavailable`: unchanged when it already is one, else wrapped with its message. */
function unavailable(operation: string, error: unknown, Unavailable: UnavailableError): Error {
  if (error instanceof Unavailable) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new Unavailable(`redis ${operation} failed: ${message}`, { cause: error });
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
export function evalScript(client: Redis | Cluster, script: LuaScript, key: string, args: readonly (string | number)[]): Promise<unknown> {
  return evalKeys(client, script, [key], args);
}

/**
 * Runs `script` on `keys`, as evalScript. Several keys only where they may be in one script: not on
 * a Cluster unless they share a slot.
 */
export async function evalKeys(client: Redis | Cluster, script: LuaScript, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
  try {
    return await client.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
    // A server new to the script answers every EVALSHA of the turn so: their EVALs leave together too.
    coalesceWrites(client);
    return client.eval(script.lua, keys.length, ...keys, ...args);
  }
}
