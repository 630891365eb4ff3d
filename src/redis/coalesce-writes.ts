import { Cluster, type Redis } from "ioredis";

/**
 * Holds the client's socket writes until the end of this turn of the event loop, so the commands
 * that every request answered in one turn sends leave in one write: one system call, and one
 * wake-up of Redis, instead of one per command. On loopback the sender's write also pays for the
 * receiver's side of TCP, so a write per command is the dearest part of a Redis call.
 *
 * This is what ioredis' auto-pipelining does, without its cost: that builds a Pipeline object per
 * turn and queues every command twice, which cost more broker CPU than the writes it saved
 * (bench/README.md, sixth round). Here nothing is built: Node's own cork and uncork on the socket
 * (`writable.cork`), released from process.nextTick, which runs once the promise jobs queued now
 * have run, so commands sent from their continuations join the same write. A command is never
 * held past the turn, and the order of commands on the connection is unchanged.
 *
 * Standalone and Sentinel only: a Cluster client sends each command on its slot's node connection,
 * which it does not expose (and a Cluster keeps auto-pipelining off, redis-connection.ts). Call it
 * just before sending; a client not yet connected has no socket, and nothing is done.
 */
export function coalesceWrites(client: Redis | Cluster): void {
  if (client instanceof Cluster) return;
  // `stream` is the client's current connection (replaced on reconnect; marked internal in
  // ioredis' typings, but the socket every command of this client is written to).
  const socket = client.stream as Redis["stream"] | undefined;
  if (socket === undefined || !socket.writable || socket.writableCorked > 0) return;
  socket.cork();
  process.nextTick(uncork, socket);
}

function uncork(socket: Redis["stream"]): void {
  socket.uncork();
}
