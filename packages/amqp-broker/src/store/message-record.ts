/**
 * Records of the message store's log (core `DurableLog` record types):
 *
 *   MESSAGE   a persistent message routed to durable queues, stored once whatever their number:
 *             u8 version | f64 publishedAt (epoch ms) | shortstr vhost | shortstr exchange |
 *             shortstr routingKey | u16 queueCount | shortstr queue… | u32 propsLen | props | body
 *   REMOVED   one queue is done with a message that other queues still hold:
 *             u8 version | f64 message seq | shortstr queue
 *   DELIVERED a queue handed the message to a consumer (redelivered=true after a restart):
 *             u8 version | f64 message seq | shortstr queue
 *
 * A message record is acked (leaves the log) once every queue is done with it; its REMOVED and DELIVERED
 * records go with it. Names are AMQP short strings (≤ 255 bytes), as on the wire.
 */
import { ByteReader } from '../codec/byte-reader.js';
import { ByteWriter } from '../codec/byte-writer.js';
import { BrokerError } from '../errors.js';

export const StoreRecord = {
  Message: 1,
  Removed: 2,
  Delivered: 3,
} as const;

const VERSION = 1;

export interface StoredMessage {
  publishedAt: number;
  vhost: string;
  exchange: string;
  routingKey: string;
  /** The durable queues the message was routed to. */
  queues: string[];
  rawProperties: Buffer;
  body: Buffer;
}

/** A REMOVED or DELIVERED record: `queue` and the message record it is about. */
export interface QueueMark {
  messageSeq: number;
  queue: string;
}

/**
 * Encodes a MESSAGE record. With `into`, the bytes are written into that (reused) writer and returned as
 * a view that is valid until its next use — for a caller that copies them at once (the log's append
 * does), saving two body-sized allocations per message; without it, a buffer of their own.
 */
export function encodeStoredMessage(m: StoredMessage, into?: ByteWriter): Buffer {
  let nameBytes = 0;
  for (const q of m.queues) nameBytes += 1 + Buffer.byteLength(q);
  const w = into ?? new ByteWriter(64 + nameBytes + m.rawProperties.length + m.body.length);
  w.reset();
  w.u8(VERSION);
  w.f64(m.publishedAt);
  w.shortStr(m.vhost);
  w.shortStr(m.exchange);
  w.shortStr(m.routingKey);
  w.u16(m.queues.length);
  for (const q of m.queues) w.shortStr(q);
  w.u32(m.rawProperties.length);
  w.bytes(m.rawProperties);
  w.bytes(m.body);
  return into === undefined ? w.take() : w.buf.subarray(0, w.pos);
}

function reader(bytes: Buffer, what: string): ByteReader {
  if (bytes.length === 0 || bytes[0] !== VERSION) {
    throw new BrokerError('DSP_BROKER_STORE_CORRUPT', `${what} record has an unknown version`);
  }
  return new ByteReader().reset(bytes, 1);
}

/** Decodes a MESSAGE record; the buffers are views into `bytes`. */
export function decodeStoredMessage(bytes: Buffer): StoredMessage {
  const r = reader(bytes, 'message');
  try {
    const publishedAt = r.f64();
    const vhost = r.shortStr();
    const exchange = r.shortStr();
    const routingKey = r.shortStr();
    const n = r.u16();
    const queues: string[] = [];
    for (let i = 0; i < n; i++) queues.push(r.shortStr());
    const rawProperties = r.bytes(r.u32());
    const body = r.bytes(r.remaining);
    return { publishedAt, vhost, exchange, routingKey, queues, rawProperties, body };
  } catch (err) {
    throw new BrokerError('DSP_BROKER_STORE_CORRUPT', `message record cannot be decoded: ${String(err)}`, {
      cause: err,
    });
  }
}

export function encodeQueueMark(mark: QueueMark): Buffer {
  const w = new ByteWriter(16 + Buffer.byteLength(mark.queue));
  w.u8(VERSION);
  w.f64(mark.messageSeq);
  w.shortStr(mark.queue);
  return w.take();
}

export function decodeQueueMark(bytes: Buffer): QueueMark {
  const r = reader(bytes, 'queue mark');
  try {
    return { messageSeq: r.f64(), queue: r.shortStr() };
  } catch (err) {
    throw new BrokerError('DSP_BROKER_STORE_CORRUPT', `queue mark cannot be decoded: ${String(err)}`, {
      cause: err,
    });
  }
}
