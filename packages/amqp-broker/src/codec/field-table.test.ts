import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AmqpError } from '../errors.js';
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import {
  type FieldTable,
  type FieldValue,
  fieldValuesEqual,
  readFieldTable,
  str,
  writeFieldTable,
} from './field-table.js';

function encode(table: FieldTable, strict = false): Buffer {
  const w = new ByteWriter(64, strict);
  writeFieldTable(w, table);
  return w.toBuffer();
}
function decode(bytes: Buffer, strict = false): FieldTable {
  return readFieldTable(new ByteReader(strict).reset(bytes));
}

/** Values that survive a round trip in both modes (types both code sets can carry). */
function fieldValue(strict: boolean): fc.Arbitrary<FieldValue> {
  const { value } = fc.letrec<{ value: FieldValue; table: FieldTable }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.boolean().map((v) => ({ type: 'bool' as const, value: v })),
      fc.integer({ min: -128, max: 127 }).map((v) => ({ type: 'int8' as const, value: v })),
      fc.integer({ min: 0, max: 255 }).map((v) => ({ type: 'uint8' as const, value: v })),
      fc.integer({ min: -32768, max: 32767 }).map((v) => ({ type: 'int16' as const, value: v })),
      fc.integer({ min: 0, max: 65535 }).map((v) => ({ type: 'uint16' as const, value: v })),
      fc.integer().map((v) => ({ type: 'int32' as const, value: v })),
      fc.nat({ max: 0xffffffff }).map((v) => ({ type: 'uint32' as const, value: v })),
      fc
        .bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
        .map((v) => ({ type: 'int64' as const, value: v })),
      fc.float({ noNaN: true }).map((v) => ({ type: 'float' as const, value: v })),
      fc.double({ noNaN: true }).map((v) => ({ type: 'double' as const, value: v })),
      fc
        .record({ scale: fc.nat({ max: 255 }), value: fc.nat({ max: 0xffffffff }) })
        .map((v) => ({ type: 'decimal' as const, ...v })),
      fc.uint8Array({ maxLength: 40 }).map((v) => ({ type: 'longstr' as const, value: Buffer.from(v) })),
      fc.nat({ max: Number.MAX_SAFE_INTEGER }).map((v) => ({ type: 'timestamp' as const, value: v })),
      fc.constant({ type: 'void' as const }),
      fc.array(tie('value'), { maxLength: 4 }).map((v) => ({ type: 'array' as const, value: v })),
      tie('table').map((v) => ({ type: 'table' as const, value: v as FieldTable })),
      strict
        ? fc.string({ maxLength: 60 }).map((v) => ({ type: 'shortstr' as const, value: v }))
        : fc.uint8Array({ maxLength: 40 }).map((v) => ({ type: 'bytes' as const, value: Buffer.from(v) })),
      ...(strict
        ? [fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((v) => ({ type: 'uint64' as const, value: v }))]
        : []),
    ),
    table: fc
      .uniqueArray(fc.tuple(fc.string({ maxLength: 20 }), tie('value')), {
        maxLength: 5,
        selector: ([k]) => k,
      })
      .map((entries) => new Map(entries)),
  }));
  return value;
}

function tableArb(strict: boolean): fc.Arbitrary<FieldTable> {
  return fc
    .uniqueArray(fc.tuple(fc.string({ maxLength: 30 }), fieldValue(strict)), {
      maxLength: 8,
      selector: ([k]) => k,
    })
    .map((entries) => new Map(entries));
}

describe('field tables', () => {
  it('encodes every RabbitMQ type with its RabbitMQ type code (golden bytes)', () => {
    const table: FieldTable = new Map<string, FieldValue>([
      ['t', { type: 'bool', value: true }],
      ['b', { type: 'int8', value: -1 }],
      ['B', { type: 'uint8', value: 255 }],
      ['s', { type: 'int16', value: -2 }],
      ['u', { type: 'uint16', value: 65535 }],
      ['I', { type: 'int32', value: -3 }],
      ['i', { type: 'uint32', value: 0xffffffff }],
      ['l', { type: 'int64', value: -4n }],
      ['f', { type: 'float', value: 1.5 }],
      ['d', { type: 'double', value: 2.5 }],
      ['D', { type: 'decimal', scale: 2, value: 12345 }],
      ['S', str('hi')],
      ['A', { type: 'array', value: [{ type: 'uint8', value: 7 }] }],
      ['T', { type: 'timestamp', value: 1_700_000_000 }],
      ['F', { type: 'table', value: new Map() }],
      ['V', { type: 'void' }],
      ['x', { type: 'bytes', value: Buffer.from([1, 2]) }],
    ]);
    const expected = Buffer.from(
      [
        '01 74 74 01',
        '01 62 62 ff',
        '01 42 42 ff',
        '01 73 73 ff fe',
        '01 75 75 ff ff',
        '01 49 49 ff ff ff fd',
        '01 69 69 ff ff ff ff',
        '01 6c 6c ff ff ff ff ff ff ff fc',
        '01 66 66 3f c0 00 00',
        '01 64 64 40 04 00 00 00 00 00 00',
        '01 44 44 02 00 00 30 39',
        '01 53 53 00 00 00 02 68 69',
        '01 41 41 00 00 00 02 42 07',
        '01 54 54 00 00 00 00 65 53 f1 00',
        '01 46 46 00 00 00 00',
        '01 56 56',
        '01 78 78 00 00 00 02 01 02',
      ]
        .join(' ')
        .split(' ')
        .map((h) => Number.parseInt(h, 16)),
    );
    const bytes = encode(table);
    expect(bytes.readUInt32BE(0)).toBe(expected.length);
    expect(bytes.subarray(4).toString('hex')).toBe(expected.toString('hex'));
    const back = decode(bytes);
    expect([...back.keys()]).toEqual([...table.keys()]);
    for (const [k, v] of table) expect(back.get(k)).toEqual(v);
  });

  it('uses the specification type codes in strict mode', () => {
    const table: FieldTable = new Map<string, FieldValue>([
      ['a', { type: 'int16', value: 1 }],
      ['b', { type: 'int64', value: 2n }],
      ['c', { type: 'uint64', value: 3n }],
      ['d', { type: 'shortstr', value: 'x' }],
    ]);
    const bytes = encode(table, true);
    expect(bytes.subarray(4).toString('hex')).toBe(
      ['0161', '550001', '0162', '4c0000000000000002', '0163', '6c0000000000000003', '0164', '730178'].join(
        '',
      ),
    );
    expect(decode(bytes, true)).toEqual(table);
    // The same bytes mean something else (or nothing) to RabbitMQ's code set.
    expect(() => decode(bytes, false)).toThrow(AmqpError);
  });

  it('round-trips arbitrary tables (RabbitMQ codes)', () => {
    fc.assert(
      fc.property(tableArb(false), (table) => {
        expect(decode(encode(table))).toEqual(table);
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips arbitrary tables (strict codes)', () => {
    fc.assert(
      fc.property(tableArb(true), (table) => {
        expect(decode(encode(table, true), true)).toEqual(table);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects unknown type codes and truncated tables with a 501 connection error', () => {
    const bad = Buffer.from('00000003016b7a', 'hex'); // type 'z'
    let err: unknown;
    try {
      decode(Buffer.concat([bad]));
    } catch (e) {
      err = e;
    }
    expect(AmqpError.isAmqpError(err)).toBe(true);
    expect((err as AmqpError).replyCode).toBe(501);
    expect((err as AmqpError).scope).toBe('connection');
    expect(() => decode(Buffer.from('0000000a0161', 'hex'))).toThrow(AmqpError);
  });

  it('rejects tables nested beyond the limit instead of exhausting the stack', () => {
    let inner: FieldTable = new Map([['v', { type: 'void' }]]);
    for (let i = 0; i < 200; i++) inner = new Map([['n', { type: 'table', value: inner }]]);
    expect(() => decode(encode(inner))).toThrow(AmqpError);
  });

  it('compares values across integer widths like RabbitMQ', () => {
    expect(fieldValuesEqual({ type: 'int8', value: 5 }, { type: 'int64', value: 5n })).toBe(true);
    expect(fieldValuesEqual(str('a'), { type: 'shortstr', value: 'a' })).toBe(true);
    expect(fieldValuesEqual(str('a'), str('b'))).toBe(false);
    expect(fieldValuesEqual({ type: 'bool', value: true }, { type: 'int8', value: 1 })).toBe(false);
  });
});
