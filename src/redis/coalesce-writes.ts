import { Cluster, type Redis } from "ioredis";

/**
 * When the commands held by {@link coalesceWrites} leave:
 * - `turn`: once the promise jobs queued now have run (process.nextTick). Commands sent from the
 *   continuations of one Redis reply (every request it answered takes its next step there) leave
 *   together, at once, so Redis works on them while the broker computes.
 * - `iteration`: at the end of this event-loop iteration (setImmediate, the check phase). Commands
 *   sent from the callbacks of different sockets (one per HTTP request that arrived) leave
 *   together: a turn would hold only one. For a request's first command, before any work of it.
 */
export type CoalesceUntil = "turn" | "iteration";

/**
 * Holds the client's socket writes for a moment, so the commands that many requests send leave in
 * one write: one system call, and one wake-up of Redis, instead of one per command. On loopback the
 * sender's write also pays for the receiver's side of TCP, so a write per command is the dearest
 * part of a Redis call.
 *
 * This is what ioredis' auto-pipelining does, without its cost: that builds a Pipeline object per
 * turn and queues every command twice, which cost more broker CPU than the writes it saved
 * (bench/README.md, sixth round). Here nothing is built: Node's own cork and uncork on the socket
 * (`writable.cork`), released as `until` says. A command is never held past the event-loop
 * iteration it was sent in, and the order of commands on the connection is unchanged. When the
 * socket is held already, the earlier call's release stands.
 *
 * Standalone and Sentinel only: a Cluster client sends each command on its slot's node connection,
 * which it does not expose (and a Cluster keeps auto-pipelining off, redis-connection.ts). Call it
 * just before sending; a client not yet connected has no socket, and nothing is done.
 */
export function coalesceWrites(client: Redis | Cluster, until: CoalesceUntil = "turn"): void {
  if (client instanceof Cluster) return;
  // `stream` is the client's current connection (replaced on reconnect; marked internal in
  // ioredis' typings, but the socket every command of this client is written to).
  const socket = client.stream as Redis["stream"] | undefined;
  if (socket === undefined || !socket.writable || socket.writableCorked > 0) return;
  socket.cork();
  if (until === "turn") process.nextTick(uncork, socket);
  else setImmediate(uncork, socket);
}

function uncork(socket: Redis["stream"]): void {
  socket.uncork();
}
