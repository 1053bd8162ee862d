/**
 * Splits a byte stream into AMQP frames:
 *
 *   +------+---------+---------+-------------------+-----------+
 *   | type | channel |  size   |  payload (size)   | frame-end |
 *   |  u8  |   u16   |   u32   |                   |   0xCE    |
 *   +------+---------+---------+-------------------+-----------+
 *
 * Frames are handed out as (type, channel, buffer, payload start, payload end) by `pushRange` — no
 * per-frame object or view — or as (type, channel, payload view) by `push`. A frame split across socket
 * chunks is buffered until complete and joined once. Oversized frames (beyond `frameMax`, which counts the
 * 8 bytes of header and frame-end like RabbitMQ's frame_max) and a bad frame-end octet throw a
 * connection-level {@link AmqpError} 501; the parser stops there (the connection closes).
 */
import { connectionError } from '../errors.js';
import { FRAME_ERROR } from './generated/amqp-constants.js';

const HEADER_BYTES = 7;
const FRAME_END = 0xce;

/** Receives each complete frame; `payload` is a view valid until the handler returns unless copied. */
export type FrameHandler = (type: number, channel: number, payload: Buffer) => void;

/** Receives each complete frame as `buf[start, end)`; the bytes are valid until the handler returns. */
export type FrameRangeHandler = (
  type: number,
  channel: number,
  buf: Buffer,
  start: number,
  end: number,
) => void;

export class FrameParser {
  /** Largest frame accepted, header and frame-end included; 0 means no limit. */
  frameMax: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** Bytes needed before the pending chunks hold a complete frame (0: unknown yet). */
  #needed = 0;

  constructor(frameMax: number) {
    this.frameMax = frameMax;
  }

  /** Feeds bytes; calls `onFrame` with a payload view for every complete frame. Throws on framing errors. */
  push(chunk: Buffer, onFrame: FrameHandler): void {
    this.pushRange(chunk, (type, channel, buf, start, end) =>
      onFrame(type, channel, buf.subarray(start, end)),
    );
  }

  /** Feeds bytes; calls `onFrame` with the payload's range for every complete frame. Throws on framing errors. */
  pushRange(chunk: Buffer, onFrame: FrameRangeHandler): void {
    let buf = chunk;
    if (this.#pendingBytes > 0) {
      this.#pending.push(chunk);
      this.#pendingBytes += chunk.length;
      if (this.#pendingBytes < this.#needed) return;
      buf = Buffer.concat(this.#pending, this.#pendingBytes);
      this.#pending = [];
      this.#pendingBytes = 0;
      this.#needed = 0;
    }
    let pos = 0;
    const len = buf.length;
    while (len - pos >= HEADER_BYTES) {
      const size = buf.readUInt32BE(pos + 3);
      const total = size + HEADER_BYTES + 1;
      if (this.frameMax !== 0 && total > this.frameMax) {
        throw connectionError(
          FRAME_ERROR,
          `frame size ${total} larger than negotiated maximum ${this.frameMax}`,
        );
      }
      if (len - pos < total) {
        this.#needed = total;
        break;
      }
      if (buf[pos + total - 1] !== FRAME_END) {
        throw connectionError(FRAME_ERROR, `bad frame-end octet 0x${buf[pos + total - 1]!.toString(16)}`);
      }
      onFrame(buf[pos]!, (buf[pos + 1]! << 8) | buf[pos + 2]!, buf, pos + HEADER_BYTES, pos + total - 1);
      pos += total;
    }
    if (pos < len) {
      const rest = buf.subarray(pos);
      this.#pending = [rest];
      this.#pendingBytes = rest.length;
      if (rest.length < HEADER_BYTES) this.#needed = HEADER_BYTES;
    } else {
      this.#needed = 0;
    }
  }

  /** Bytes received but not yet part of a complete frame. */
  get bufferedBytes(): number {
    return this.#pendingBytes;
  }
}
