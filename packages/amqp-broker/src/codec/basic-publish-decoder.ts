/**
 * basic.publish decoded by hand: the method every message arrives with. Exchange and routing key come
 * from per-connection {@link ShortStringCache}s, so a publisher repeating them costs no string decoding.
 * Anything unusual (truncated, trailing bytes) returns undefined and the generic decoder handles it, with
 * its error reporting.
 *
 *   class 60 | method 40 | ticket u16 | exchange shortstr | routing-key shortstr | bits (mandatory, immediate)
 */
import { type BasicPublish, MethodId } from './generated/amqp-spec.js';
import type { ShortStringCache } from './short-string-cache.js';

/** True when the method frame payload `buf[start, end)` is basic.publish. */
export function isBasicPublish(buf: Buffer, start = 0, end = buf.length): boolean {
  return (
    end - start >= 4 &&
    buf[start] === 0 &&
    buf[start + 1] === 60 &&
    buf[start + 2] === 0 &&
    buf[start + 3] === 40
  );
}

/** basic.publish from the method frame payload `buf[start, end)`; undefined: use the generic decoder. */
export function decodeBasicPublish(
  buf: Buffer,
  exchanges: ShortStringCache,
  routingKeys: ShortStringCache,
  start = 0,
  end = buf.length,
): BasicPublish | undefined {
  if (end - start < 9) return undefined;
  const ticket = (buf[start + 4]! << 8) | buf[start + 5]!;
  let p = start + 6;
  const exLen = buf[p++]!;
  if (p + exLen + 2 > end) return undefined;
  const exchange = exLen === 0 ? '' : exchanges.get(buf, p, exLen);
  p += exLen;
  const rkLen = buf[p++]!;
  if (p + rkLen + 1 !== end) return undefined;
  const routingKey = rkLen === 0 ? '' : routingKeys.get(buf, p, rkLen);
  const bits = buf[p + rkLen]!;
  return {
    id: MethodId.BasicPublish,
    ticket,
    exchange,
    routingKey,
    mandatory: (bits & 1) !== 0,
    immediate: (bits & 2) !== 0,
  };
}
