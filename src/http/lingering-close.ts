import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";

/** Most body bytes read and thrown away after a refused body, before the connection is cut. */
export const LINGER_MAX_BYTES = 8 * 1024 * 1024;
/** Longest time a connection lingers once its answer is written. */
export const LINGER_MAX_MS = 5_000;

export interface LingerLimits {
  readonly maxBytes: number;
  readonly maxMs: number;
}

const lingering = new WeakSet<Socket>();

/**
 * Closes the connection of a request whose body is refused unread (413) without losing the answer.
 *
 * Node writes the `Connection: close` answer and then destroys the socket at once. Closing a TCP
 * socket with the client's bytes still unread makes the kernel send a reset, and a reset makes the
 * client's kernel throw away what it has not yet handed to the client, our 413 included: curl and
 * undici then report "connection reset" instead of the answer. RFC 9112 §9.6 asks a server that
 * closes while the client may still be sending to half-close, keep reading until the client closes
 * its side, and only then close: "lingering close", as Apache and nginx do it.
 *
 * So: the rest of the body is read and discarded from now on; once the answer is written, the
 * server half-closes (FIN after the answer) and lingers until the client ends the connection, or
 * `maxBytes` more body bytes, or `maxMs`, whichever comes first. Both bounds keep a client that
 * just keeps sending from holding the connection or costing more than a bounded read.
 */
export function lingerAfterAnswer(incoming: IncomingMessage, limits: LingerLimits = { maxBytes: LINGER_MAX_BYTES, maxMs: LINGER_MAX_MS }): void {
  const socket = incoming.socket as Socket | null;
  if (socket === null || socket.destroyed || lingering.has(socket)) return;
  lingering.add(socket);
  let discarded = 0;
  const cut = () => {
    if (!socket.destroyed) socket.destroy();
  };
  // Counted from here, not from the answer: the whole drain is bounded, however slow the answer.
  incoming.on("data", (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > limits.maxBytes) cut();
  });
  // Node's http server calls destroySoon() on the socket once a `Connection: close` answer is
  // written (resOnFinish); this socket half-closes instead, and closes when the lingering ends.
  socket.destroySoon = function lingeringClose(this: Socket) {
    const timer = setTimeout(cut, limits.maxMs);
    timer.unref();
    socket.once("close", () => clearTimeout(timer));
    // The client has read our FIN and closed its side: nothing more to wait for.
    socket.once("end", cut);
    socket.end();
  };
}
