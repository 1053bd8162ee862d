/**
 * Decodes the payload of a method frame (class id, method id, arguments) with the generated tables.
 */
import { connectionError } from '../errors.js';
import type { ByteReader } from './byte-reader.js';
import { type AmqpMethod, decodeMethodArgs, NOT_IMPLEMENTED } from './generated/amqp-spec.js';

/**
 * Decodes one method frame payload. Unknown class or method ids throw a connection-level 540
 * (NOT_IMPLEMENTED); malformed arguments throw 501 (FRAME_ERROR).
 */
export function decodeMethodFrame(r: ByteReader, payload: Buffer): AmqpMethod {
  return decodeMethodFrameAt(r, payload, 0, payload.length);
}

/** {@link decodeMethodFrame} of the payload `buf[start, end)`. */
export function decodeMethodFrameAt(r: ByteReader, buf: Buffer, start: number, end: number): AmqpMethod {
  r.reset(buf, start, end);
  r.classId = 0;
  r.methodId = 0;
  if (end - start < 4) throw r.error('method frame shorter than 4 bytes');
  const classId = (buf[start]! << 8) | buf[start + 1]!;
  const methodId = (buf[start + 2]! << 8) | buf[start + 3]!;
  r.classId = classId;
  r.methodId = methodId;
  r.pos = start + 4;
  const method = decodeMethodArgs(((classId << 16) | methodId) >>> 0, r);
  if (method === undefined) {
    throw connectionError(NOT_IMPLEMENTED, `unknown method ${classId}/${methodId}`, { classId, methodId });
  }
  return method;
}
