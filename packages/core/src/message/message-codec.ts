/**
 * Compact binary form of a `Message`, used as the record body in the durable log.
 *
 *   u8 version (1) | u8 flags | varint attempt | varint createdAt | [varint notBefore] | [varint lastAttemptAt]
 *   | u8 idLen | id | varint headerCount | (varint nameLen name varint valueCount (varint len value)*)*
 *   | varint bodyLen | body
 *
 * Varints are unsigned LEB128 up to 2^53, so epoch-ms timestamps take 6 bytes instead of 8.
 */
import { CoreError } from '../errors.js';
import type { Message, MessageHeaders } from './message.js';

const VERSION = 1;
const FLAG_NOT_BEFORE = 1;
const FLAG_LAST_ATTEMPT = 2;

class Writer {
  buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }
  varint(v: number): void {
    this.ensure(8);
    // Division, not bit shifts: values go past 2^32.
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  str(s: string): void {
    const len = Buffer.byteLength(s);
    this.varint(len);
    this.ensure(len);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }
}

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  fail(what: string): never {
    throw new CoreError('DSP_CORE_MESSAGE_DECODE', `invalid message encoding: ${what} at byte ${this.pos}`);
  }
  u8(): number {
    if (this.pos >= this.buf.length) this.fail('truncated');
    return this.buf[this.pos++] as number;
  }
  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      result += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (result > Number.MAX_SAFE_INTEGER) this.fail('varint out of range');
        return result;
      }
      mul *= 0x80;
    }
    return this.fail('varint too long');
  }
  bytes(n: number): Buffer {
    if (this.pos + n > this.buf.length) this.fail('truncated');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  str(): string {
    return this.bytes(this.varint()).toString('utf8');
  }
}

function isSafeUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Serialises `message`. Throws `DSP_CORE_INVALID_ARGUMENT` for fields the format cannot hold. */
export function encodeMessage(message: Message): Buffer {
  const idBytes = Buffer.from(message.id);
  if (idBytes.length === 0 || idBytes.length > 255) {
    throw new CoreError('DSP_CORE_INVALID_ARGUMENT', 'message id must be 1..255 bytes');
  }
  for (const [name, v] of [
    ['attempt', message.attempt],
    ['createdAt', message.createdAt],
    ['notBefore', message.notBefore ?? 0],
    ['lastAttemptAt', message.lastAttemptAt ?? 0],
  ] as const) {
    if (!isSafeUint(v))
      throw new CoreError('DSP_CORE_INVALID_ARGUMENT', `message ${name} must be a safe unsigned integer`);
  }
  const w = new Writer(64 + idBytes.length + message.body.length);
  w.u8(VERSION);
  let flags = 0;
  if (message.notBefore !== undefined) flags |= FLAG_NOT_BEFORE;
  if (message.lastAttemptAt !== undefined) flags |= FLAG_LAST_ATTEMPT;
  w.u8(flags);
  w.varint(message.attempt);
  w.varint(message.createdAt);
  if (message.notBefore !== undefined) w.varint(message.notBefore);
  if (message.lastAttemptAt !== undefined) w.varint(message.lastAttemptAt);
  w.u8(idBytes.length);
  w.bytes(idBytes);
  const names = Object.keys(message.headers);
  w.varint(names.length);
  for (const name of names) {
    const value = message.headers[name] as string | string[];
    w.str(name);
    const values = Array.isArray(value) ? value : [value];
    // The decoder rejects a header with no value, so refuse to write one.
    if (values.length === 0) {
      throw new CoreError('DSP_CORE_INVALID_ARGUMENT', `message header ${JSON.stringify(name)} has no value`);
    }
    w.varint(values.length);
    for (const v of values) w.str(v);
  }
  w.varint(message.body.length);
  w.bytes(message.body);
  return w.buf.subarray(0, w.pos);
}

/** Parses what `encodeMessage` wrote. Throws `DSP_CORE_MESSAGE_DECODE` on any malformed input. */
export function decodeMessage(data: Uint8Array): Message {
  const r = new Reader(
    Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength),
  );
  const { id, attempt, createdAt, notBefore, lastAttemptAt } = readSummary(r);
  const headerCount = r.varint();
  const headers: MessageHeaders = Object.create(null) as MessageHeaders;
  for (let i = 0; i < headerCount; i++) {
    const name = r.str();
    const count = r.varint();
    if (count === 0) r.fail(`header ${JSON.stringify(name)} has no value`);
    if (count === 1) {
      headers[name] = r.str();
    } else {
      const values: string[] = [];
      for (let j = 0; j < count; j++) values.push(r.str());
      headers[name] = values;
    }
  }
  const bodyLen = r.varint();
  // Copy: the input buffer is often a pooled read buffer that gets reused.
  const body = Buffer.from(r.bytes(bodyLen));
  if (r.pos !== r.buf.length) r.fail('trailing bytes');
  return {
    id,
    body,
    headers,
    attempt,
    createdAt,
    ...(notBefore === undefined ? {} : { notBefore }),
    ...(lastAttemptAt === undefined ? {} : { lastAttemptAt }),
  };
}

/** The fields of an encoded message that scheduling needs, read without touching headers or body. */
export interface MessageSummary {
  id: string;
  attempt: number;
  createdAt: number;
  notBefore?: number;
  lastAttemptAt?: number;
}

/**
 * Reads the id and timestamps of an encoded message without decoding its headers or copying its body:
 * recovering a large backlog needs only these. Throws `DSP_CORE_MESSAGE_DECODE` on malformed input.
 */
export function peekMessage(data: Uint8Array): MessageSummary {
  return readSummary(
    new Reader(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength)),
  );
}

/** The fixed prefix every encoded message starts with, up to and including the id. */
function readSummary(r: Reader): MessageSummary {
  const version = r.u8();
  if (version !== VERSION) r.fail(`unknown version ${version}`);
  const flags = r.u8();
  if (flags & ~(FLAG_NOT_BEFORE | FLAG_LAST_ATTEMPT)) r.fail(`unknown flags ${flags}`);
  const attempt = r.varint();
  const createdAt = r.varint();
  const notBefore = flags & FLAG_NOT_BEFORE ? r.varint() : undefined;
  const lastAttemptAt = flags & FLAG_LAST_ATTEMPT ? r.varint() : undefined;
  const idLen = r.u8();
  if (idLen === 0) r.fail('empty id');
  const id = r.bytes(idLen).toString('utf8');
  return {
    id,
    attempt,
    createdAt,
    ...(notBefore === undefined ? {} : { notBefore }),
    ...(lastAttemptAt === undefined ? {} : { lastAttemptAt }),
  };
}
