import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AmqpError } from '../errors.js';
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import { decodeContentHeader, decodeProperties } from './content-header.js';
import { type FieldTable, str } from './field-table.js';
import { writeBodyFrames, writeHeaderFrame, writeHeartbeatFrame, writeMethodFrame } from './frame-encoder.js';
import { FrameParser } from './frame-parser.js';
import {
  type AmqpMethod,
  type BasicProperties,
  encodeBasicProperties,
  MethodId,
} from './generated/amqp-spec.js';
import { decodeMethodFrame } from './method-decoder.js';

const SPEC_PATH = fileURLToPath(new URL('../../spec/amqp-rabbitmq-0.9.1.json', import.meta.url));

interface Frame {
  type: number;
  channel: number;
  payload: Buffer;
}
function frames(bytes: Buffer, frameMax = 0): Frame[] {
  const out: Frame[] = [];
  new FrameParser(frameMax).push(bytes, (type, channel, payload) => {
    out.push({ type, channel, payload: Buffer.from(payload) });
  });
  return out;
}
function methodBytes(channel: number, m: AmqpMethod): Buffer {
  const w = new ByteWriter(64);
  writeMethodFrame(w, channel, m);
  return w.toBuffer();
}
function decodeOne(bytes: Buffer): AmqpMethod {
  const [f] = frames(bytes);
  return decodeMethodFrame(new ByteReader(), f!.payload);
}

const camel = (s: string) => s.replace(/[-\s]+(.)/g, (_, c: string) => c.toUpperCase());

/** Arbitrary methods of every spec method, built from the spec JSON itself. */
function methodArb(): fc.Arbitrary<AmqpMethod> {
  const spec = JSON.parse(readFileSync(SPEC_PATH, 'utf8')) as {
    domains: [string, string][];
    classes: {
      id: number;
      methods: { id: number; arguments: { name: string; type?: string; domain?: string }[] }[];
    }[];
  };
  const domains = new Map(spec.domains);
  const shortStr = fc.string({ maxLength: 40 }).filter((s) => Buffer.byteLength(s) <= 255);
  const table: fc.Arbitrary<FieldTable> = fc
    .uniqueArray(fc.tuple(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 })), {
      maxLength: 3,
      selector: ([k]) => k,
    })
    .map((entries) => new Map(entries.map(([k, v]) => [k, str(v)])));
  const byType: Record<string, fc.Arbitrary<unknown>> = {
    bit: fc.boolean(),
    octet: fc.nat({ max: 255 }),
    short: fc.nat({ max: 65535 }),
    long: fc.nat({ max: 0xffffffff }),
    longlong: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    timestamp: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    shortstr: shortStr,
    longstr: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
    table,
  };
  const all = spec.classes.flatMap((c) =>
    c.methods.map((m) => {
      const fields: Record<string, fc.Arbitrary<unknown>> = {};
      for (const a of m.arguments) fields[camel(a.name)] = byType[a.type ?? domains.get(a.domain!)!]!;
      const id = ((c.id << 16) | m.id) >>> 0;
      return fc.record(fields).map((r) => ({ id, ...r }) as unknown as AmqpMethod);
    }),
  );
  return fc.oneof(...all);
}

describe('method frames', () => {
  it('golden: channel.open on channel 1', () => {
    const bytes = methodBytes(1, { id: MethodId.ChannelOpen, outOfBand: '' });
    expect(bytes.toString('hex')).toBe('010001000000050014000a00ce');
  });

  it('golden: basic.publish with packed bits', () => {
    const bytes = methodBytes(3, {
      id: MethodId.BasicPublish,
      ticket: 0,
      exchange: 'ex',
      routingKey: 'rk',
      mandatory: true,
      immediate: false,
    });
    expect(bytes.toString('hex')).toBe('0100030000000d003c0028000002657802726b01ce');
  });

  it('golden: queue.declare with an argument table and bits', () => {
    const bytes = methodBytes(1, {
      id: MethodId.QueueDeclare,
      ticket: 0,
      queue: 'q',
      passive: false,
      durable: true,
      exclusive: false,
      autoDelete: true,
      nowait: false,
      arguments: new Map([['x-message-ttl', { type: 'int32', value: 1000 }]]),
    });
    const payload =
      '0032000a' + '0000' + '0171' + '0a' + '00000013' + '0d782d6d6573736167652d74746c' + '49000003e8';
    expect(bytes.toString('hex')).toBe(
      `010001${(payload.length / 2).toString(16).padStart(8, '0')}${payload}ce`,
    );
  });

  it('golden: heartbeat', () => {
    const w = new ByteWriter(16);
    writeHeartbeatFrame(w);
    expect(w.toBuffer().toString('hex')).toBe('08000000000000ce');
  });

  it('round-trips every spec method with arbitrary arguments', () => {
    fc.assert(
      fc.property(methodArb(), fc.nat({ max: 65535 }), (method, channel) => {
        const bytes = methodBytes(channel, method);
        const [f] = frames(bytes);
        expect(f!.type).toBe(1);
        expect(f!.channel).toBe(channel);
        expect(decodeMethodFrame(new ByteReader(), f!.payload)).toEqual(method);
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects unknown methods with 540 and truncated arguments with 501', () => {
    const unknown = Buffer.from('010001000000040063000ace', 'hex');
    try {
      decodeOne(unknown);
      expect.unreachable();
    } catch (err) {
      expect(AmqpError.isAmqpError(err) && err.replyCode).toBe(540);
    }
    const truncated = Buffer.from('01000100000006003c0028000ace', 'hex');
    try {
      decodeOne(truncated);
      expect.unreachable();
    } catch (err) {
      expect(AmqpError.isAmqpError(err) && err.replyCode).toBe(501);
      expect((err as AmqpError).classId).toBe(60);
      expect((err as AmqpError).methodId).toBe(40);
    }
  });
});

describe('content header and body frames', () => {
  it('golden: header with content-type and delivery-mode', () => {
    const w = new ByteWriter(64);
    writeHeaderFrame(w, 1, 60, 5, { contentType: 'text/plain', deliveryMode: 2 });
    const hex = w.toBuffer().toString('hex');
    const payload = '003c' + '0000' + '0000000000000005' + '9000' + '0a746578742f706c61696e' + '02';
    expect(hex).toBe(`020001${(payload.length / 2).toString(16).padStart(8, '0')}${payload}ce`);
  });

  it('round-trips arbitrary properties through raw bytes', () => {
    const props: fc.Arbitrary<BasicProperties> = fc.record(
      {
        contentType: fc.string({ maxLength: 20 }),
        contentEncoding: fc.string({ maxLength: 20 }),
        headers: fc
          .uniqueArray(fc.tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 })), {
            maxLength: 3,
            selector: ([k]) => k,
          })
          .map((e) => new Map(e.map(([k, v]) => [k, str(v)]))),
        deliveryMode: fc.nat({ max: 255 }),
        priority: fc.nat({ max: 255 }),
        correlationId: fc.string({ maxLength: 20 }),
        replyTo: fc.string({ maxLength: 20 }),
        expiration: fc.string({ maxLength: 20 }),
        messageId: fc.string({ maxLength: 20 }),
        timestamp: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
        type: fc.string({ maxLength: 20 }),
        userId: fc.string({ maxLength: 20 }),
        appId: fc.string({ maxLength: 20 }),
        clusterId: fc.string({ maxLength: 20 }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(props, fc.nat({ max: 1_000_000 }), (p, bodySize) => {
        const w = new ByteWriter(64);
        writeHeaderFrame(w, 7, 60, bodySize, p);
        const [f] = frames(w.toBuffer());
        const header = decodeContentHeader(f!.payload);
        expect(header.classId).toBe(60);
        expect(header.bodySize).toBe(bodySize);
        expect(decodeProperties(header.properties)).toEqual(p);
        const raw = new ByteWriter(64);
        encodeBasicProperties(raw, p);
        expect(Buffer.from(header.properties)).toEqual(raw.toBuffer());
      }),
      { numRuns: 500 },
    );
  });

  it('splits bodies to frame_max and writes no body frame for an empty body', () => {
    const body = Buffer.alloc(10_000, 7);
    const w = new ByteWriter(64);
    writeBodyFrames(w, 2, body, 4096);
    const parts = frames(w.toBuffer(), 4096);
    expect(parts.map((p) => p.payload.length)).toEqual([4088, 4088, 1824]);
    expect(Buffer.concat(parts.map((p) => p.payload))).toEqual(body);
    const empty = new ByteWriter(64);
    writeBodyFrames(empty, 2, Buffer.alloc(0), 4096);
    expect(empty.length).toBe(0);
  });
});

describe('frame parser', () => {
  it('reassembles frames split at every byte boundary', () => {
    const bytes = Buffer.concat([
      methodBytes(1, { id: MethodId.ChannelOpen, outOfBand: '' }),
      methodBytes(2, { id: MethodId.BasicQos, prefetchSize: 0, prefetchCount: 10, global: false }),
    ]);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const seen: number[] = [];
      const p = new FrameParser(0);
      const onFrame = (_t: number, ch: number) => seen.push(ch);
      p.push(bytes.subarray(0, cut), onFrame);
      p.push(bytes.subarray(cut), onFrame);
      expect(seen).toEqual([1, 2]);
      expect(p.bufferedBytes).toBe(0);
    }
  });

  it('feeds one byte at a time', () => {
    const bytes = methodBytes(9, { id: MethodId.ChannelFlow, active: true });
    const seen: Buffer[] = [];
    const p = new FrameParser(0);
    for (const b of bytes) p.push(Buffer.from([b]), (_t, _c, payload) => seen.push(Buffer.from(payload)));
    expect(seen).toHaveLength(1);
    expect(seen[0]!.toString('hex')).toBe('0014001401');
  });

  it('rejects a bad frame-end octet and frames over frame_max with 501', () => {
    const bytes = methodBytes(1, { id: MethodId.ChannelOpen, outOfBand: '' });
    bytes[bytes.length - 1] = 0xcd;
    expect(() => frames(bytes)).toThrow(expect.objectContaining({ replyCode: 501 }));
    const big = Buffer.alloc(5000 + 8);
    big[0] = 3;
    big.writeUInt32BE(5000, 3);
    big[big.length - 1] = 0xce;
    expect(() => frames(big, 4096)).toThrow(expect.objectContaining({ replyCode: 501, scope: 'connection' }));
    expect(frames(big, 0)).toHaveLength(1);
  });
});
