import type { Context } from "hono";
import { BrokerError } from "../errors.js";
import type { AppEnv } from "./app-env.js";

/**
 * Reads a request body of at most `maxBytes`, counting the bytes actually received, so a chunked
 * body or an understated Content-Length cannot slip past the limit.
 *
 * Reads the Node request stream directly when there is one: going through the Fetch API
 * `Request` body (as hono's bodyLimit does) builds an undici Request and a web stream per
 * request, which measured at about half the cost of a whole token exchange.
 */
export async function readBody(c: Context<AppEnv>, maxBytes: number): Promise<Buffer> {
  const declared = c.req.header("content-length");
  if (declared !== undefined && Number(declared) > maxBytes) throw tooLarge(maxBytes);
  const incoming = c.env?.incoming;
  if (incoming === undefined) {
    // Under app.request() (in-process tests) there is no Node stream.
    const body = Buffer.from(await c.req.arrayBuffer());
    if (body.length > maxBytes) throw tooLarge(maxBytes);
    return body;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of incoming as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) throw tooLarge(maxBytes);
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof BrokerError) throw error;
    // The client went away (or the request timeout cut it off) part-way through the body: the
    // caller's fault, not the server's, and nobody is left to read the answer.
    throw new BrokerError("invalid_request", "the request body was not received in full", { status: 400, cause: error });
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
}

function tooLarge(maxBytes: number): BrokerError {
  return new BrokerError("invalid_request", `request body exceeds ${maxBytes} bytes`, { status: 413 });
}
