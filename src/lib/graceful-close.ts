import { Server as NetServer } from "node:net";
import type { Server, ServerResponse } from "node:http";

/** How a drain ended: every connection closed by itself, or the grace period ran out. */
export type DrainOutcome = "drained" | "forced";

export interface GracefulClose {
  /** True once {@link drain} has begun (readiness reports it). */
  isDraining(): boolean;
  /**
   * Stops accepting connections and lets every open one finish: each request in flight or still
   * arriving on a kept-alive connection is answered with `Connection: close`, after which the
   * connection ends. Idle kept-alive connections are left to the keep-alive timeout, which clients
   * honour ahead of the server (`Keep-Alive: timeout=N`): closing them ourselves would race a
   * client that is sending on one at that instant, and fail its request. Past `graceMs`, every
   * remaining connection is closed.
   */
  drain(graceMs: number): Promise<DrainOutcome>;
}

/**
 * Adds graceful close to a node:http server. Node's own `server.close()` also closes idle
 * connections at once (Node ≥ 19), which resets requests a client is writing on them at that
 * moment; this closes only the listener and lets connections finish.
 */
export function gracefulClose(server: Server): GracefulClose {
  let draining = false;
  const inFlight = new Set<ServerResponse>();
  server.prependListener("request", (_request, response: ServerResponse) => {
    if (draining) {
      response.setHeader("Connection", "close");
      return;
    }
    inFlight.add(response);
    response.once("close", () => inFlight.delete(response));
  });
  return {
    isDraining: () => draining,
    drain(graceMs) {
      draining = true;
      for (const response of inFlight) {
        if (!response.headersSent) response.setHeader("Connection", "close");
      }
      return new Promise<DrainOutcome>((resolve) => {
        const force = setTimeout(() => {
          server.closeAllConnections();
          resolve("forced");
        }, graceMs);
        force.unref();
        // net.Server#close: stop listening and call back once every connection has ended.
        NetServer.prototype.close.call(server, () => {
          clearTimeout(force);
          resolve("drained");
        });
      });
    },
  };
}
