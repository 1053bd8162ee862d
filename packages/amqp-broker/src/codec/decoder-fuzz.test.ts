import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BrokerError } from '../errors.js';
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import { decodeContentHeader, decodeProperties } from './content-header.js';
import { readFieldTable } from './field-table.js';
import { writeMethodFrame } from './frame-encoder.js';
import { FrameParser } from './frame-parser.js';
import { METHOD_INFO, MethodId } from './generated/amqp-spec.js';
import { decodeMethodFrame } from './method-decoder.js';

/** Runs `fn`; any throw must be a coded BrokerError (an AmqpError), never a RangeError or TypeError. */
function onlyCodedErrors(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (!BrokerError.isInstance(err)) throw err;
    expect((err as BrokerError).code).toMatch(/^DSP_BROKER_/);
  }
}

const methodIds = [...METHOD_INFO.keys()];

describe('decoder fuzz', () => {
  it('random method payloads (valid class/method ids, random arguments) only raise coded errors', () => {
    fc.assert(
      fc.property(fc.constantFrom(...methodIds), fc.uint8Array({ maxLength: 200 }), (id, args) => {
        const payload = Buffer.alloc(4 + args.length);
        payload.writeUInt32BE(id, 0);
        payload.set(args, 4);
        onlyCodedErrors(() => decodeMethodFrame(new ByteReader(), payload));
        onlyCodedErrors(() => decodeMethodFrame(new ByteReader(true), payload));
      }),
      { numRuns: 5_000 },
    );
  });

  it('random bytes as frames, tables, headers and properties only raise coded errors', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (raw) => {
        const bytes = Buffer.from(raw);
        onlyCodedErrors(() => new FrameParser(4096).push(bytes, () => {}));
        onlyCodedErrors(() => decodeMethodFrame(new ByteReader(), bytes));
        onlyCodedErrors(() => readFieldTable(new ByteReader().reset(bytes)));
        onlyCodedErrors(() => readFieldTable(new ByteReader(true).reset(bytes)));
        onlyCodedErrors(() => decodeProperties(bytes));
        onlyCodedErrors(() => decodeContentHeader(bytes));
      }),
      { numRuns: 5_000 },
    );
  });

  it('mutated valid frames only raise coded errors', () => {
    const w = new ByteWriter(256);
    writeMethodFrame(w, 1, {
      id: MethodId.QueueDeclare,
      ticket: 0,
      queue: 'a-queue',
      passive: false,
      durable: true,
      exclusive: false,
      autoDelete: false,
      nowait: false,
      arguments: new Map([
        ['x-message-ttl', { type: 'int32', value: 5 }],
        ['x-dead-letter-exchange', { type: 'longstr', value: Buffer.from('dlx') }],
        [
          'nested',
          {
            type: 'array',
            value: [{ type: 'table', value: new Map([['k', { type: 'bool', value: true }]]) }],
          },
        ],
      ]),
    });
    const valid = w.toBuffer();
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: valid.length - 1 }), fc.nat({ max: 255 })), {
          minLength: 1,
          maxLength: 6,
        }),
        (mutations) => {
          const bytes = Buffer.from(valid);
          for (const [at, value] of mutations) bytes[at] = value;
          onlyCodedErrors(() =>
            new FrameParser(0).push(bytes, (_t, _c, payload) => {
              decodeMethodFrame(new ByteReader(), payload);
            }),
          );
        },
      ),
      { numRuns: 5_000 },
    );
  });
});
