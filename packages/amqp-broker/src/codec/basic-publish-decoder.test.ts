import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBasicPublish, isBasicPublish } from './basic-publish-decoder.js';
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import {
  shortStrBytes,
  writeBodyFrames,
  writeDelivery,
  writeHeaderFrame,
  writeMethodFrame,
} from './frame-encoder.js';
import { type BasicPublish, MethodId } from './generated/amqp-spec.js';
import { decodeMethodFrame } from './method-decoder.js';
import { ShortStringCache } from './short-string-cache.js';

const shortString = fc.string({ unit: 'binary', maxLength: 60 }).filter((s) => Buffer.byteLength(s) <= 255);

function payloadOf(m: BasicPublish): Buffer {
  const w = new ByteWriter(512);
  writeMethodFrame(w, 1, m);
  return w.toBuffer().subarray(7, -1);
}

describe('decodeBasicPublish', () => {
  it('decodes what the generic decoder decodes, through caches that see changing values', () => {
    const exchanges = new ShortStringCache();
    const keys = new ShortStringCache();
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            ticket: fc.integer({ min: 0, max: 0xffff }),
            exchange: fc.oneof(fc.constant('amq.direct'), shortString),
            routingKey: fc.oneof(fc.constant('k'), shortString),
            mandatory: fc.boolean(),
            immediate: fc.boolean(),
          }),
          { minLength: 1, maxLength: 8 },
        ),
        (publishes) => {
          for (const p of publishes) {
            const payload = payloadOf({ id: MethodId.BasicPublish, ...p });
            expect(isBasicPublish(payload)).toBe(true);
            const generic = decodeMethodFrame(new ByteReader(), payload);
            expect(decodeBasicPublish(payload, exchanges, keys)).toEqual(generic);
          }
        },
      ),
    );
  });

  it('leaves truncated or over-long payloads to the generic decoder', () => {
    const payload = payloadOf({
      id: MethodId.BasicPublish,
      ticket: 0,
      exchange: 'x',
      routingKey: 'rk',
      mandatory: false,
      immediate: false,
    });
    const c = new ShortStringCache();
    for (let n = 4; n < payload.length; n++)
      expect(decodeBasicPublish(payload.subarray(0, n), c, c)).toBe(undefined);
    expect(decodeBasicPublish(Buffer.concat([payload, Buffer.from([0])]), c, c)).toBe(undefined);
  });
});

describe('writeDelivery', () => {
  it('writes the same bytes as basic.deliver + header + body frames from a method object', () => {
    const props = Buffer.from([0x10, 0x00, 0x01]);
    const body = Buffer.alloc(10_000, 7);
    const a = new ByteWriter();
    writeMethodFrame(a, 3, {
      id: MethodId.BasicDeliver,
      consumerTag: 'ctag-é',
      deliveryTag: 2 ** 40 + 5,
      redelivered: true,
      exchange: 'ex',
      routingKey: 'rk.ü',
    });
    writeHeaderFrame(a, 3, 60, body.length, props);
    writeBodyFrames(a, 3, body, 4096);
    const b = new ByteWriter();
    const address = Buffer.concat([shortStrBytes('ex'), shortStrBytes('rk.ü')]);
    writeDelivery(b, 3, shortStrBytes('ctag-é'), 2 ** 40 + 5, true, address, props, body, 4096);
    expect(b.toBuffer()).toEqual(a.toBuffer());
  });
});
