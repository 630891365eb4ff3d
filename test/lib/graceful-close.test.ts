/**
 * gracefulClose on a real node:http server on loopback, driven by node's own client with a
 * keep-alive agent of one socket (so "the same connection" is known, not hoped for).
 */
import { once } from "node:events";
import { Agent, createServer, request, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { gracefulClose, type GracefulClose } from "../../src/lib/graceful-close.js";

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

let server: Server | undefined;
let agent: Agent | undefined;

afterEach(() => {
  agent?.destroy();
  server?.closeAllConnections();
  server?.close();
  server = undefined;
  agent = undefined;
});

/** A server whose `/slow` answers once `release` is called; everything else answers at once. */
async function start(closer: GracefulClose): Promise<{ port: number; release: () => void; slowArrived: Promise<void> }> {
  let release: () => void = () => undefined;
  let arrived: () => void = () => undefined;
  const slowArrived = new Promise<void>((resolve) => (arrived = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  server = createServer({ ServerResponse: closer.ServerResponse }, (req, res) => {
    if (req.url === "/slow") {
      arrived();
      void released.then(() => res.end("slow"));
    } else if (req.url === "/implicit") {
      res.end("implicit");
    } else {
      res.writeHead(200, { "Content-Type": "text/plain" }).end("fast");
    }
  });
  server.keepAliveTimeout = 5_000;
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { port: (server.address() as AddressInfo).port, release, slowArrived };
}

function get(port: number, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, agent }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("gracefulClose", () => {
  it("keeps connections alive until the drain, then answers in-flight requests with Connection: close and resolves drained", async () => {
    const closer = gracefulClose();
    const { port, release, slowArrived } = await start(closer);
    agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const before = await get(port, "/fast");
    expect(before.headers.connection).toBe("keep-alive");
    expect(closer.isDraining()).toBe(false);

    const slow = get(port, "/slow");
    await slowArrived;
    const drained = closer.drain(server as Server, 5_000);
    expect(closer.isDraining()).toBe(true);
    release();
    const answer = await slow;
    expect(answer).toMatchObject({ status: 200, body: "slow" });
    expect(answer.headers.connection).toBe("close");
    await expect(drained).resolves.toBe("drained");
  });

  it("answers a request arriving on a kept-alive connection after the drain began, head written by writeHead or implicitly, with Connection: close", async () => {
    for (const path of ["/fast", "/implicit"]) {
      const closer = gracefulClose();
      const { port } = await start(closer);
      agent = new Agent({ keepAlive: true, maxSockets: 1 });
      expect((await get(port, path)).headers.connection).toBe("keep-alive");
      const drained = closer.drain(server as Server, 5_000);
      // The idle connection was left open: the next request goes on it and is answered.
      const after = await get(port, path);
      expect(after).toMatchObject({ status: 200, body: path.slice(1) });
      expect(after.headers.connection).toBe("close");
      await expect(drained).resolves.toBe("drained");
      agent.destroy();
      server = undefined;
    }
  });

  it("refuses new connections once draining", async () => {
    const closer = gracefulClose();
    const { port, release, slowArrived } = await start(closer);
    agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const slow = get(port, "/slow");
    await slowArrived;
    const drained = closer.drain(server as Server, 5_000);
    const fresh = new Agent({ keepAlive: false });
    await expect(
      new Promise((resolve, reject) => request({ host: "127.0.0.1", port, path: "/fast", agent: fresh }, resolve).on("error", reject).end()),
    ).rejects.toMatchObject({ code: "ECONNREFUSED" });
    release();
    await slow;
    await expect(drained).resolves.toBe("drained");
  });

  it("closes what is left once the grace period is over, and says so", async () => {
    const closer = gracefulClose();
    const { port, slowArrived } = await start(closer);
    agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const slow = get(port, "/slow").catch((error: NodeJS.ErrnoException) => error.code);
    await slowArrived;
    await expect(closer.drain(server as Server, 100)).resolves.toBe("forced");
    await expect(slow).resolves.toBe("ECONNRESET");
  });

  it("leaves answers written without a drain as they were", async () => {
    const closer = gracefulClose();
    const { port } = await start(closer);
    agent = new Agent({ keepAlive: true, maxSockets: 1 });
    for (const path of ["/fast", "/implicit", "/fast"]) {
      const answer = await get(port, path);
      expect(answer.headers.connection).toBe("keep-alive");
      expect(answer.headers["content-type"]).toBe(path === "/fast" ? "text/plain" : undefined);
    }
  });
});
