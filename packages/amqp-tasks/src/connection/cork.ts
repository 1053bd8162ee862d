import type { Channel } from 'amqplib';

interface Corkable {
  cork(): void;
  uncork(): void;
}

const corked = new WeakSet<Corkable>();

/**
 * Corks the connection's socket until the next turn of the event loop, so the frames of a burst of
 * publishes and acks leave in one `writev` instead of one syscall each (amqplib writes every frame
 * separately). The socket is amqplib-internal (`channel.connection.stream`); without it this does nothing.
 */
export function corkUntilNextTurn(channel: Channel): void {
  const stream = (channel as unknown as { connection?: { stream?: Partial<Corkable> } }).connection?.stream;
  if (!stream || typeof stream.cork !== 'function' || typeof stream.uncork !== 'function') return;
  const socket = stream as Corkable;
  if (corked.has(socket)) return;
  corked.add(socket);
  socket.cork();
  setImmediate(() => {
    corked.delete(socket);
    socket.uncork();
  });
}
