/**
 * readBody over a Node stream: the body, or a refusal, and in every case none of its listeners
 * left on the stream (it listens with `on` and removes all four itself at the first event).
 */
import type { IncomingMessage } from "node:http";
import { PassThrough } from "node:stream";
import type { Context } from "hono";
import { describe, expect, it } from "vitest";
import { BrokerError } from "../../src/errors/broker-error.js";
import type { AppEnv } from "../../src/http/app-env.js";
import { readBody } from "../../src/http/read-body.js";

const EVENTS = ["data", "end", "error", "close"] as const;

/** A request stream with no socket (lingerAfterAnswer then has nothing to linger on). */
function requestStream(): PassThrough {
  return Object.assign(new PassThrough(), { socket: null });
}

function contextOf(incoming: PassThrough): Context<AppEnv> {
  return { env: { incoming: incoming as unknown as IncomingMessage }, req: { header: () => undefined } } as unknown as Context<AppEnv>;
}

function listeners(stream: PassThrough): Record<string, number> {
  return Object.fromEntries(EVENTS.map((event) => [event, stream.listenerCount(event)]));
}

describe("readBody from the Node stream", () => {
  it("collects chunks into one body and leaves no listener behind", async () => {
    const incoming = requestStream();
    const before = listeners(incoming);
    const reading = readBody(contextOf(incoming), 100);
    incoming.write("grant_type=a");
    incoming.end("&scope=b");
    expect((await reading).toString()).toBe("grant_type=a&scope=b");
    expect(listeners(incoming)).toEqual(before);
  });

  it("refuses a body past the limit once the bytes say so, and leaves none of its own listeners", async () => {
    const incoming = requestStream();
    const reading = readBody(contextOf(incoming), 10);
    incoming.write("0123456789");
    incoming.write("x");
    await expect(reading).rejects.toMatchObject({ reason: "body_too_large" });
    expect(incoming.listenerCount("end")).toBe(0);
    expect(incoming.listenerCount("error")).toBe(0);
    expect(incoming.listenerCount("close")).toBe(0);
  });

  it("a stream error is a body not received in full, and later events reach nothing of readBody's", async () => {
    const incoming = requestStream();
    const before = listeners(incoming);
    const reading = readBody(contextOf(incoming), 100);
    incoming.write("grant_type=a");
    incoming.destroy(new Error("reset"));
    const error: unknown = await reading.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BrokerError);
    expect((error as BrokerError).description).toBe("the request body was not received in full");
    expect(listeners(incoming)).toEqual(before);
  });

  it("a stream closed before its end is a body not received in full", async () => {
    const incoming = requestStream();
    const reading = readBody(contextOf(incoming), 100);
    incoming.write("grant_type=a");
    incoming.emit("close");
    await expect(reading).rejects.toMatchObject({ description: "the request body was not received in full" });
    expect(incoming.listenerCount("data")).toBe(0);
    expect(incoming.listenerCount("end")).toBe(0);
  });
});
