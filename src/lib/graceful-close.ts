import { Server as NetServer } from "node:net";
import { ServerResponse, type IncomingMessage, type Server } from "node:http";

/** How a drain ended: every connection closed by itself, or the grace period ran out. */
export type DrainOutcome = "drained" | "forced";

export interface GracefulClose {
  /**
   * The response class to create the server with (`http.createServer({ ServerResponse })`): an
   * answer whose head is written once {@link drain} has begun says `Connection: close`.
   */
  readonly ServerResponse: typeof ServerResponse;
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
  drain(server: Server, graceMs: number): Promise<DrainOutcome>;
}

/**
 * Graceful close for a node:http server. Node's own `server.close()` also closes idle connections
 * at once (Node ≥ 19), which resets requests a client is writing on them at that moment; this
 * closes only the listener and lets connections finish.
 *
 * Which answers say `Connection: close` is decided when each answer's head is written, by the
 * response class, rather than by keeping the responses in flight in a set for the drain to walk.
 * A long-lived `Set` with an add and a delete per request is what made a broker under load promote
 * ~250 KB of finished requests per scavenge. V8 replaces a Set's hash table with a new one every
 * few dozen adds (deleted entries are compacted away only by copying), and allocates the new table
 * in the generation of the old one. Once the table is in the old generation (after the first
 * mark-compact that finds the Set alive), every replaced table stays in the old generation, dead
 * but uncollected until the next mark-compact, still pointing at the responses it held. A scavenge
 * treats those pointers as roots, so each one kept ~50 finished requests alive, promoted them, and
 * brought on mark-compacts that promoted the next table: ~10 % more CPU per exchange, for the life
 * of the process (bench/README.md, ninth round).
 */
export function gracefulClose(): GracefulClose {
  let draining = false;
  const writeHead = ServerResponse.prototype.writeHead;
  class DrainAwareResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> {}
  // Assigned rather than declared as a method: `writeHead` has several overloads, and this one
  // only adds a header before handing every argument on unchanged. Node's implicit head
  // (`end()` without `writeHead`) goes through `writeHead` too.
  DrainAwareResponse.prototype.writeHead = function writeHeadDraining(this: ServerResponse, ...args: unknown[]): ServerResponse {
    if (draining && !this.headersSent) this.setHeader("Connection", "close");
    return Reflect.apply(writeHead, this, args) as ServerResponse;
  } as typeof writeHead;
  return {
    ServerResponse: DrainAwareResponse,
    isDraining: () => draining,
    drain(server, graceMs) {
      draining = true;
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
