import type { ChannelModel } from 'amqplib';

interface Corkable {
  cork(): void;
  uncork(): void;
}

interface MuxLike {
  _readIncoming?: (this: MuxLike) => void;
}

/**
 * Write buffer of the connection's socket (`writableHighWaterMark`), in bytes. A corked burst larger than
 * the buffer makes the socket refuse more (`write()` answers false): amqplib's muxer then stops and goes on
 * at the socket's `drain`. A turn of 1,000 publishes is about 250 KiB.
 */
export const SOCKET_WRITE_BUFFER_BYTES = 1024 * 1024;

const corkedModels = new WeakSet<ChannelModel>();

/**
 * Makes every pass of amqplib's muxer leave in one `writev`. amqplib does not write frames when they are
 * sent: each channel buffers them and the connection's muxer copies them to the socket in a `setImmediate`,
 * one `write` syscall per frame (a publish, an ack). Wrapping that pass in cork/uncork sends the burst of a
 * turn (every publish and ack of every channel) together, at the moment amqplib would have sent the first
 * of them: no added latency and no timer. The muxer and the socket are amqplib internals
 * (`connection.muxer`, `connection.stream`); without them this does nothing and amqplib writes as usual.
 * Returns whether it could.
 */
export function corkMuxerWrites(model: ChannelModel): boolean {
  if (corkedModels.has(model)) return true;
  const connection = (model as unknown as { connection?: { muxer?: MuxLike; stream?: Partial<Corkable> } })
    .connection;
  const mux = connection?.muxer;
  const stream = connection?.stream;
  const pass = mux?._readIncoming;
  if (!mux || typeof pass !== 'function' || typeof stream?.cork !== 'function') return false;
  if (typeof stream.uncork !== 'function') return false;
  const socket = stream as Corkable;
  mux._readIncoming = function corkedPass(this: MuxLike) {
    socket.cork();
    try {
      pass.call(this);
    } finally {
      socket.uncork();
    }
  };
  corkedModels.add(model);
  return true;
}
