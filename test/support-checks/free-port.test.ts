import { once } from "node:events";
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { canBind, freePort } from "../support/broker-process.js";

/** Holds 127.0.0.1:`port` (0: one the kernel picks) until `close` is called. */
async function hold(port = 0): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createServer();
  server.listen(port, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return { port: address.port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe("the test harness's free ports (every broker, issuer and redis-server of the e2e suites takes one)", () => {
  it("canBind answers false on a port in use, and does not throw", async () => {
    const held = await hold();
    try {
      await expect(canBind(held.port)).resolves.toBe(false);
    } finally {
      await held.close();
    }
  });

  it("canBind answers true on a free port, and leaves it free", async () => {
    const held = await hold();
    await held.close();
    await expect(canBind(held.port)).resolves.toBe(true);
    await expect(canBind(held.port)).resolves.toBe(true);
  });

  it("freePort answers a port that can be bound", async () => {
    const port = await freePort();
    const held = await hold(port);
    await held.close();
    expect(held.port).toBe(port);
  });
});
