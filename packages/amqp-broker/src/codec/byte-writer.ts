/**
 * Growable output buffer for encoding AMQP primitive types (big-endian), frames included. A connection
 * encodes every frame of an event-loop turn into one writer and hands the bytes to the socket in one write
 * (`take()`), so encoding allocates one buffer per flush, not one per frame.
 */
import { BrokerError } from '../errors.js';

const FRAME_END = 0xce;
const FRAME_HEADER_BYTES = 7;

export class ByteWriter {
  buf: Buffer;
  pos = 0;

  /**
   * @param initialBytes Initial capacity; the buffer doubles as needed. @defaultValue 16384
   * @param strict Encode field tables with the specification's type codes (see `ByteReader`).
   *   @defaultValue false
   */
  constructor(
    private readonly initialBytes = 16_384,
    readonly strict = false,
  ) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  get length(): number {
    return this.pos;
  }

  ensure(n: number): void {
    const needed = this.pos + n;
    if (needed <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < needed) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** The bytes written so far (a view), then start over on a fresh buffer. */
  take(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    this.buf = Buffer.allocUnsafe(Math.max(this.initialBytes, Math.min(this.buf.length, 1 << 20)));
    this.pos = 0;
    return out;
  }

  /** A copy of the bytes written so far, keeping the writer's buffer for reuse (tests, small scratch work). */
  toBuffer(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  reset(): void {
    this.pos = 0;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v & 0xff;
  }

  i8(v: number): void {
    this.ensure(1);
    this.buf.writeInt8(v, this.pos);
    this.pos += 1;
  }

  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }

  i16(v: number): void {
    this.ensure(2);
    this.buf.writeInt16BE(v, this.pos);
    this.pos += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }

  i32(v: number): void {
    this.ensure(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
  }

  /** Unsigned 64-bit from a non-negative safe integer. */
  u64(v: number): void {
    this.ensure(8);
    const hi = Math.floor(v / 0x1_0000_0000);
    this.buf.writeUInt32BE(hi >>> 0, this.pos);
    this.buf.writeUInt32BE(v >>> 0, this.pos + 4);
    this.pos += 8;
  }

  i64Big(v: bigint): void {
    this.ensure(8);
    this.buf.writeBigInt64BE(v, this.pos);
    this.pos += 8;
  }

  u64Big(v: bigint): void {
    this.ensure(8);
    this.buf.writeBigUInt64BE(v, this.pos);
    this.pos += 8;
  }

  f32(v: number): void {
    this.ensure(4);
    this.buf.writeFloatBE(v, this.pos);
    this.pos += 4;
  }

  f64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }

  /** A short string: at most 255 UTF-8 bytes. */
  shortStr(s: string): void {
    const len = Buffer.byteLength(s);
    if (len > 255) {
      throw new BrokerError('DSP_BROKER_INVALID_ARGUMENT', `short string longer than 255 bytes (${len})`);
    }
    this.ensure(1 + len);
    this.buf[this.pos++] = len;
    if (len > 0) this.pos += this.buf.write(s, this.pos, len, 'utf8');
  }

  /** A long string: 32-bit length then the bytes. */
  longStr(v: Buffer | string): void {
    if (typeof v === 'string') {
      const len = Buffer.byteLength(v);
      this.ensure(4 + len);
      this.buf.writeUInt32BE(len, this.pos);
      this.pos += 4;
      if (len > 0) this.pos += this.buf.write(v, this.pos, len, 'utf8');
      return;
    }
    this.ensure(4 + v.length);
    this.buf.writeUInt32BE(v.length, this.pos);
    this.pos += 4;
    this.pos += v.copy(this.buf, this.pos);
  }

  bytes(v: Buffer): void {
    this.ensure(v.length);
    this.pos += v.copy(this.buf, this.pos);
  }

  /** Starts a frame (type, channel, size placeholder); returns the token `endFrame()` needs. */
  beginFrame(type: number, channel: number): number {
    this.ensure(FRAME_HEADER_BYTES);
    const start = this.pos;
    this.buf[start] = type;
    this.buf.writeUInt16BE(channel, start + 1);
    this.pos += FRAME_HEADER_BYTES;
    return start;
  }

  /** Patches the frame size and appends the frame-end octet. */
  endFrame(start: number): void {
    this.buf.writeUInt32BE(this.pos - start - FRAME_HEADER_BYTES, start + 3);
    this.u8(FRAME_END);
  }
}
