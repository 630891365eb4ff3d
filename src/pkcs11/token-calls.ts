import type { MessagePort } from "node:worker_threads";
import type { TokenCalls, TokenReply, TokenRequest } from "./token-protocol.js";

/**
 * Answers the client's calls on `port`, in order, with `calls` (the token operations, or a test's
 * wrapper around them). A call whose deadline passed while it waited is skipped: its caller has
 * been answered already, and the token's time is better spent on calls still awaited.
 */
export function serveTokenCalls(port: MessagePort, calls: TokenCalls): void {
  port.on("message", (request: TokenRequest) => {
    port.postMessage(answer(calls, request));
  });
}

function answer(calls: TokenCalls, request: TokenRequest): TokenReply {
  if (Date.now() > request.deadline) return { id: request.id, ok: false, message: "skipped: its deadline passed while it waited" };
  try {
    const call = calls[request.name] as (...args: unknown[]) => unknown;
    return { id: request.id, ok: true, value: call.apply(calls, [...request.args]) };
  } catch (error) {
    return { id: request.id, ok: false, message: error instanceof Error ? error.message : String(error) };
  }
}
