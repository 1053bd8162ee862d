/**
 * Writes whole frames into a {@link ByteWriter}: method frames, content header frames, body frames split
 * to the connection's frame_max, and heartbeats.
 */
import { ByteWriter } from './byte-writer.js';
import {
  type AmqpMethod,
  type BasicProperties,
  ClassId,
  encodeBasicProperties,
  encodeMethodArgs,
  FRAME_BODY,
  FRAME_HEADER,
  FRAME_HEARTBEAT,
  FRAME_METHOD,
  MethodId,
} from './generated/amqp-spec.js';

const BASIC_DELIVER = MethodId.BasicDeliver;

/** Frame header (7 bytes) plus frame-end (1 byte). */
export const FRAME_OVERHEAD_BYTES = 8;

export function writeMethodFrame(w: ByteWriter, channel: number, method: AmqpMethod): void {
  const start = w.beginFrame(FRAME_METHOD, channel);
  w.u32(method.id);
  encodeMethodArgs(w, method);
  w.endFrame(start);
}

/**
 * A content header frame. `properties` is either decoded properties or the raw property bytes (flags
 * included) exactly as a publisher sent them, which the broker forwards untouched.
 */
export function writeHeaderFrame(
  w: ByteWriter,
  channel: number,
  classId: number,
  bodySize: number,
  properties: BasicProperties | Buffer,
): void {
  const start = w.beginFrame(FRAME_HEADER, channel);
  w.u16(classId);
  w.u16(0);
  w.u64(bodySize);
  if (Buffer.isBuffer(properties)) w.bytes(properties);
  else encodeBasicProperties(w, properties);
  w.endFrame(start);
}

/**
 * Body frames for `body`, each at most `frameMax` bytes long (0: no limit). A 0-byte body has no body
 * frame at all.
 */
export function writeBodyFrames(w: ByteWriter, channel: number, body: Buffer, frameMax: number): void {
  const chunk = frameMax === 0 ? body.length : frameMax - FRAME_OVERHEAD_BYTES;
  for (let off = 0; off < body.length; off += chunk) {
    const end = Math.min(body.length, off + chunk);
    const start = w.beginFrame(FRAME_BODY, channel);
    w.ensure(end - off);
    w.pos += body.copy(w.buf, w.pos, off, end);
    w.endFrame(start);
  }
}

/** `s` as an AMQP short string (length octet + UTF-8), for parts of frames that are encoded once. */
export function shortStrBytes(s: string): Buffer {
  const w = new ByteWriter(1 + Buffer.byteLength(s));
  w.shortStr(s);
  return w.toBuffer();
}

/**
 * basic.deliver with its content, from pre-encoded parts: the consumer tag (a short string, encoded once
 * per consumer) and the exchange + routing key (encoded once per message, see `Message.addressBytes`).
 * Same bytes as `writeMethodFrame` + `writeHeaderFrame` + `writeBodyFrames`, without a method object.
 */
export function writeDelivery(
  w: ByteWriter,
  channel: number,
  consumerTag: Buffer,
  deliveryTag: number,
  redelivered: boolean,
  address: Buffer,
  properties: Buffer,
  body: Buffer,
  frameMax: number,
): void {
  const start = w.beginFrame(FRAME_METHOD, channel);
  w.u32(BASIC_DELIVER);
  w.bytes(consumerTag);
  w.u64(deliveryTag);
  w.u8(redelivered ? 1 : 0);
  w.bytes(address);
  w.endFrame(start);
  writeHeaderFrame(w, channel, ClassId.Basic, body.length, properties);
  writeBodyFrames(w, channel, body, frameMax);
}

export function writeHeartbeatFrame(w: ByteWriter): void {
  const start = w.beginFrame(FRAME_HEARTBEAT, 0);
  w.endFrame(start);
}
