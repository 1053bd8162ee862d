import type { Channel } from 'amqplib';

interface Corkable {
  cork(): void;
  uncork(): void;
}

const corked = new WeakSet<Corkable>();

/**
 * Write buffer of the connection's socket (`writableHighWaterMark`), in bytes. A corked burst larger than
 * the buffer makes the socket refuse more (`write()` answers false): amqplib's muxer then stops and goes on
 * at the socket's `drain`, uncorked, one syscall per frame. A turn of 1,000 publishes is about 250 KiB.
 */
export const SOCKET_WRITE_BUFFER_BYTES = 1024 * 1024;

/**
 * Corks the connection's socket until amqplib has written out a burst of publishes and acks, so their
 * frames leave in one `writev` instead of one syscall each. amqplib does not write frames to the socket
 * when they are sent: each channel buffers them and its muxer copies them to the socket in a `setImmediate`
 * of its own, queued after ours. So the uncork waits one more turn: uncorking in the first one would come
 * before the muxer's writes and cork nothing (each frame was its own `write` syscall). The socket is
 * amqplib-internal (`channel.connection.stream`); without it this does nothing.
 */
export function corkUntilNextTurn(channel: Channel): void {
  const stream = (channel as unknown as { connection?: { stream?: Partial<Corkable> } }).connection?.stream;
  if (!stream || typeof stream.cork !== 'function' || typeof stream.uncork !== 'function') return;
  const socket = stream as Corkable;
  if (corked.has(socket)) return;
  corked.add(socket);
  socket.cork();
  setImmediate(() =>
    setImmediate(() => {
      corked.delete(socket);
      socket.uncork();
    }),
  );
}
