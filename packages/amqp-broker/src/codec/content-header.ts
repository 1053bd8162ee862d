/**
 * Content header frame payload:
 *
 *   class-id u16 | weight u16 (0) | body-size u64 | property-flags u16… | properties
 *
 * The broker keeps the property bytes (flags included) as received and forwards them to consumers
 * unchanged; they are decoded once when the header arrives ({@link decodePublishedProperties}), so
 * malformed properties are refused before a message is ever stored.
 */
import { connectionError } from '../errors.js';
import { ByteReader } from './byte-reader.js';
import { type BasicProperties, decodeBasicProperties, FRAME_ERROR } from './generated/amqp-spec.js';

export interface ContentHeader {
  readonly classId: number;
  readonly bodySize: number;
  /** Property flags and property list, as received (a view on the frame payload). */
  readonly properties: Buffer;
}

export function decodeContentHeader(payload: Buffer): ContentHeader {
  return {
    classId: contentClassId(payload),
    bodySize: contentBodySize(payload),
    properties: payload.subarray(PROPERTIES_OFFSET),
  };
}

/** Where the property flags start in a content header payload. */
export const PROPERTIES_OFFSET = 12;

/** The class id of the content header payload `buf[start, end)` (501 when shorter than 14 bytes). */
export function contentClassId(buf: Buffer, start = 0, end = buf.length): number {
  if (end - start < 14) throw connectionError(FRAME_ERROR, 'content header frame shorter than 14 bytes');
  return (buf[start]! << 8) | buf[start + 1]!;
}

/** The body size of a content header payload (at least 14 bytes) starting at `start` (501 beyond 2^53). */
export function contentBodySize(buf: Buffer, start = 0): number {
  const hi = buf.readUInt32BE(start + 4);
  const lo = buf.readUInt32BE(start + 8);
  if (hi > 0x1f_ffff) throw connectionError(FRAME_ERROR, 'content body size beyond 2^53');
  return hi * 0x1_0000_0000 + lo;
}

/** Decodes raw property bytes (flags included) of class basic. */
export function decodeProperties(raw: Buffer, strict = false): BasicProperties {
  const r = new ByteReader(strict).reset(raw);
  r.classId = 60;
  return decodeBasicProperties(r);
}

/**
 * Decodes the property bytes (flags included) of a published message and checks them as RabbitMQ does:
 * the last two flag bits are ignored (RabbitMQ reads no continuation word for class basic), every flagged
 * property must be complete and nothing may follow the last one. Throws a coded error when malformed.
 */
export function decodePublishedProperties(raw: Buffer, strict = false): BasicProperties {
  let bytes = raw;
  if (raw.length >= 2 && (raw[1]! & 1) !== 0) {
    // Our generated decoder would read a continuation word here; RabbitMQ does not.
    bytes = Buffer.from(raw);
    bytes[1] = bytes[1]! & 0xfe;
  }
  const r = new ByteReader(strict).reset(bytes);
  r.classId = 60;
  const properties = decodeBasicProperties(r);
  if (r.remaining !== 0) {
    throw connectionError(FRAME_ERROR, `${r.remaining} bytes after the last content property`);
  }
  return properties;
}
