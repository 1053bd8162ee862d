/**
 * Content header frame payload:
 *
 *   class-id u16 | weight u16 (0) | body-size u64 | property-flags u16… | properties
 *
 * The broker keeps the property bytes (flags included) as received and forwards them to consumers
 * unchanged; it decodes them only when routing or a queue feature needs a property.
 */
import { connectionError } from '../errors.js';
import { ByteReader } from './byte-reader.js';
import { type BasicProperties, decodeBasicProperties } from './generated/amqp-spec.js';

const FRAME_ERROR = 501;

export interface ContentHeader {
  readonly classId: number;
  readonly bodySize: number;
  /** Property flags and property list, as received (a view on the frame payload). */
  readonly properties: Buffer;
}

export function decodeContentHeader(payload: Buffer): ContentHeader {
  if (payload.length < 14) throw connectionError(FRAME_ERROR, 'content header frame shorter than 14 bytes');
  const classId = payload.readUInt16BE(0);
  const hi = payload.readUInt32BE(4);
  const lo = payload.readUInt32BE(8);
  if (hi > 0x1f_ffff) throw connectionError(FRAME_ERROR, 'content body size beyond 2^53');
  return { classId, bodySize: hi * 0x1_0000_0000 + lo, properties: payload.subarray(12) };
}

/** Decodes raw property bytes (flags included) of class basic. */
export function decodeProperties(raw: Buffer, strict = false): BasicProperties {
  const r = new ByteReader(strict).reset(raw);
  r.classId = 60;
  return decodeBasicProperties(r);
}
