import type { IncomingMessage } from "node:http";
import type { Context } from "hono";
import { BrokerError } from "../errors/broker-error.js";
import type { AppEnv } from "./app-env.js";
import { lingerAfterAnswer } from "./lingering-close.js";

/**
 * Reads a request body of at most `maxBytes`, counting the bytes actually received, so a chunked
 * body or an understated Content-Length cannot slip past the limit.
 *
 * Reads the Node request stream directly when there is one: going through the Fetch API
 * `Request` body (as hono's bodyLimit does) builds an undici Request and a web stream per
 * request, which measured at about half the cost of a whole token exchange.
 */
export async function readBody(c: Context<AppEnv>, maxBytes: number): Promise<Buffer> {
  const incoming = c.env?.incoming as IncomingMessage | undefined;
  const declared = c.req.header("content-length");
  if (declared !== undefined && Number(declared) > maxBytes) {
    // Refused unread: the client is still sending it, so the 413 must not be followed by a reset.
    if (incoming !== undefined) lingerAfterAnswer(incoming);
    throw tooLarge(maxBytes);
  }
  if (incoming === undefined) {
    // Under app.request() (in-process tests) there is no Node stream.
    const body = Buffer.from(await c.req.arrayBuffer());
    if (body.length > maxBytes) throw tooLarge(maxBytes);
    return body;
  }
  return collect(incoming, maxBytes);
}

/**
 * Collects a Node stream through its events. Equivalent to `for await` over it, at a fraction of
 * the cost: the async iterator built per request was ~4 % of a whole exchange (profiled).
 */
function collect(incoming: IncomingMessage, maxBytes: number): Promise<Buffer> {
  // Nothing will arrive any more: answer now rather than wait for events that already fired.
  if (incoming.destroyed) return Promise.reject(cutShort(undefined));
  if (incoming.readableEnded) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (error: BrokerError | undefined) => {
      incoming.off("data", onData);
      incoming.off("end", onEnd);
      incoming.off("error", onError);
      incoming.off("close", onClose);
      if (error !== undefined) reject(error);
      else resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      settle(tooLarge(maxBytes));
      // The rest of the body is not wanted, but destroying the stream now would reset the
      // connection under the 413 (RFC 9112 §9.6): read and drop a bounded amount instead.
      lingerAfterAnswer(incoming);
    };
    const onEnd = () => settle(undefined);
    const onError = (error: unknown) => settle(cutShort(error));
    // Closed before its end: the client went away, or the request timeout cut it off.
    const onClose = () => settle(cutShort(undefined));
    // `on`, not `once`, for all four: settle removes every one of them at the first event, and
    // `once` would wrap each listener in a state object and a bound function (~0.45 KB a request).
    incoming.on("data", onData);
    incoming.on("end", onEnd);
    incoming.on("error", onError);
    incoming.on("close", onClose);
  });
}

/** The client went away part-way through the body: its fault, not the server's, and nobody is left to read the answer. */
function cutShort(cause: unknown): BrokerError {
  return new BrokerError("invalid_request", "the request body was not received in full", { cause });
}

function tooLarge(maxBytes: number): BrokerError {
  return new BrokerError("invalid_request", `request body exceeds ${maxBytes} bytes`, { reason: "body_too_large" });
}
