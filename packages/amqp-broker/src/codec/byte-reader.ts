/**
 * Cursor over a Buffer for decoding AMQP primitive types (big-endian). One reader is reused for every
 * frame of a connection: `reset()` points it at the next payload, so decoding allocates nothing but the
 * values it returns.
 *
 * Every read checks its bounds and throws a connection-level {@link AmqpError} 501 (FRAME_ERROR, "cannot
 * decode", as RabbitMQ answers) instead of reading past the payload.
 */
import { type AmqpError, connectionError } from '../errors.js';
import { FRAME_ERROR } from './generated/amqp-constants.js';

const EMPTY = Buffer.alloc(0);

export class ByteReader {
  buf: Buffer = EMPTY;
  pos = 0;
  end = 0;
  /** Class and method being decoded, for error reports. */
  classId = 0;
  methodId = 0;

  /**
   * @param strict Decode field tables with the type codes of the AMQP 0-9-1 specification instead of the
   *   ones RabbitMQ (and every mainstream client) uses. @defaultValue false
   */
  constructor(readonly strict = false) {}

  reset(buf: Buffer, start = 0, end = buf.length): this {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    return this;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  /** A decoding error at the current position. */
  error(message: string): AmqpError {
    return connectionError(FRAME_ERROR, `cannot decode: ${message}`, {
      classId: this.classId,
      methodId: this.methodId,
    });
  }

  need(n: number): void {
    if (this.pos + n > this.end)
      throw this.error(`truncated (needed ${n} more bytes, ${this.end - this.pos} left)`);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  i8(): number {
    this.need(1);
    const v = this.buf.readInt8(this.pos);
    this.pos += 1;
    return v;
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  i16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  i32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** Unsigned 64-bit as a number: exact up to 2^53 (delivery tags, body sizes, timestamps). */
  u64(): number {
    this.need(8);
    const hi = this.buf.readUInt32BE(this.pos);
    const lo = this.buf.readUInt32BE(this.pos + 4);
    this.pos += 8;
    return hi * 0x1_0000_0000 + lo;
  }

  i64Big(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  u64Big(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  f32(): number {
    this.need(4);
    const v = this.buf.readFloatBE(this.pos);
    this.pos += 4;
    return v;
  }

  f64(): number {
    this.need(8);
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  /** A short string (octet length + UTF-8 bytes). */
  shortStr(): string {
    const len = this.u8();
    if (len === 0) return '';
    this.need(len);
    const s = this.buf.toString('utf8', this.pos, this.pos + len);
    this.pos += len;
    return s;
  }

  /** A long string (32-bit length + bytes) as a view on the payload (not copied). */
  longStr(): Buffer {
    const len = this.u32();
    this.need(len);
    const b = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return b;
  }

  /** `n` raw bytes as a view on the payload (not copied). */
  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}
