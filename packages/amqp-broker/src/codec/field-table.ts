/**
 * AMQP field tables and arrays.
 *
 * Values keep their wire type, so a table decoded and encoded again gives the same bytes (headers that the
 * broker rewrites, such as x-death, keep the client's types). Two type-code sets exist:
 *
 * | value        | RabbitMQ (default) | specification (`strict`) |
 * | ------------ | ------------------ | ------------------------ |
 * | bool         | t                  | t                        |
 * | int8 / uint8 | b / B              | b / B                    |
 * | int16        | s                  | U                        |
 * | uint16       | u                  | u                        |
 * | int32/uint32 | I / i              | I / i                    |
 * | int64        | l                  | L                        |
 * | uint64       | — (written as l)   | l                        |
 * | float/double | f / d              | f / d                    |
 * | decimal      | D                  | D                        |
 * | shortstr     | — (written as S)   | s                        |
 * | longstr      | S                  | S                        |
 * | array        | A                  | A                        |
 * | timestamp    | T                  | T                        |
 * | table        | F                  | F                        |
 * | void         | V                  | V                        |
 * | bytes        | x                  | — (written as S)         |
 *
 * The RabbitMQ set is what RabbitMQ and its clients (amqplib, pika, the Java client) use; the strict set
 * is the one of the 0-9-1 specification, which dispatchd switched to with `-strict-mode`.
 */
import { BrokerError } from '../errors.js';
import type { ByteReader } from './byte-reader.js';
import type { ByteWriter } from './byte-writer.js';

/** A typed field value. */
export type FieldValue =
  | { readonly type: 'bool'; readonly value: boolean }
  | {
      readonly type:
        | 'int8'
        | 'uint8'
        | 'int16'
        | 'uint16'
        | 'int32'
        | 'uint32'
        | 'float'
        | 'double'
        | 'timestamp';
      readonly value: number;
    }
  | { readonly type: 'int64' | 'uint64'; readonly value: bigint }
  | { readonly type: 'decimal'; readonly scale: number; readonly value: number }
  | { readonly type: 'shortstr'; readonly value: string }
  | { readonly type: 'longstr' | 'bytes'; readonly value: Buffer }
  | { readonly type: 'array'; readonly value: readonly FieldValue[] }
  | { readonly type: 'table'; readonly value: FieldTable }
  | { readonly type: 'void' };

/** A field table: names to typed values, in wire order. */
export type FieldTable = Map<string, FieldValue>;

export type FieldType = FieldValue['type'];

/** Tables and arrays nested deeper than this are rejected (a hostile peer must not exhaust the stack). */
export const MAX_FIELD_NESTING = 64;

/** A fresh empty table. */
export function emptyTable(): FieldTable {
  return new Map();
}

export function readFieldTable(r: ByteReader, depth = 0): FieldTable {
  const len = r.u32();
  r.need(len);
  const end = r.pos + len;
  const table: FieldTable = new Map();
  if (len === 0) return table;
  if (depth >= MAX_FIELD_NESTING) throw r.error('field table nested too deeply');
  const outerEnd = r.end;
  r.end = end;
  try {
    while (r.pos < end) {
      const name = r.shortStr();
      table.set(name, readFieldValue(r, depth + 1));
    }
  } finally {
    r.end = outerEnd;
  }
  return table;
}

function readFieldArray(r: ByteReader, depth: number): FieldValue[] {
  const len = r.u32();
  r.need(len);
  const end = r.pos + len;
  const values: FieldValue[] = [];
  if (len === 0) return values;
  if (depth >= MAX_FIELD_NESTING) throw r.error('field array nested too deeply');
  const outerEnd = r.end;
  r.end = end;
  try {
    while (r.pos < end) values.push(readFieldValue(r, depth + 1));
  } finally {
    r.end = outerEnd;
  }
  return values;
}

export function readFieldValue(r: ByteReader, depth = 0): FieldValue {
  const code = r.u8();
  switch (code) {
    case 0x74 /* t */:
      return { type: 'bool', value: r.u8() !== 0 };
    case 0x62 /* b */:
      return { type: 'int8', value: r.i8() };
    case 0x42 /* B */:
      return { type: 'uint8', value: r.u8() };
    case 0x75 /* u */:
      return { type: 'uint16', value: r.u16() };
    case 0x49 /* I */:
      return { type: 'int32', value: r.i32() };
    case 0x69 /* i */:
      return { type: 'uint32', value: r.u32() };
    case 0x66 /* f */:
      return { type: 'float', value: r.f32() };
    case 0x64 /* d */:
      return { type: 'double', value: r.f64() };
    case 0x44 /* D */:
      {
        const scale = r.u8();
        return { type: 'decimal', scale, value: r.u32() };
      }
    case 0x53 /* S */:
      return { type: 'longstr', value: r.longStr() };
    case 0x41 /* A */:
      return { type: 'array', value: readFieldArray(r, depth) };
    case 0x54 /* T */:
      return { type: 'timestamp', value: r.u64() };
    case 0x46 /* F */:
      return { type: 'table', value: readFieldTable(r, depth) };
    case 0x56 /* V */:
      return { type: 'void' };
    case 0x73 /* s */:
      return r.strict ? { type: 'shortstr', value: r.shortStr() } : { type: 'int16', value: r.i16() };
    case 0x6c /* l */:
      return r.strict ? { type: 'uint64', value: r.u64Big() } : { type: 'int64', value: r.i64Big() };
    case 0x55 /* U */:
      if (r.strict) return { type: 'int16', value: r.i16() };
      break;
    case 0x4c /* L */:
      if (r.strict) return { type: 'int64', value: r.i64Big() };
      break;
    case 0x78 /* x */:
      if (!r.strict) return { type: 'bytes', value: r.longStr() };
      break;
  }
  throw r.error(`unknown field type 0x${code.toString(16).padStart(2, '0')}`);
}

export function writeFieldTable(w: ByteWriter, table: ReadonlyMap<string, FieldValue> | undefined): void {
  const start = w.pos;
  w.u32(0);
  if (table !== undefined) {
    for (const [name, value] of table) {
      w.shortStr(name);
      writeFieldValue(w, value);
    }
  }
  w.buf.writeUInt32BE(w.pos - start - 4, start);
}

export function writeFieldValue(w: ByteWriter, v: FieldValue): void {
  switch (v.type) {
    case 'bool':
      w.u8(0x74);
      w.u8(v.value ? 1 : 0);
      return;
    case 'int8':
      w.u8(0x62);
      w.i8(v.value);
      return;
    case 'uint8':
      w.u8(0x42);
      w.u8(v.value);
      return;
    case 'int16':
      w.u8(w.strict ? 0x55 : 0x73);
      w.i16(v.value);
      return;
    case 'uint16':
      w.u8(0x75);
      w.u16(v.value);
      return;
    case 'int32':
      w.u8(0x49);
      w.i32(v.value);
      return;
    case 'uint32':
      w.u8(0x69);
      w.u32(v.value);
      return;
    case 'int64':
      w.u8(w.strict ? 0x4c : 0x6c);
      w.i64Big(v.value);
      return;
    case 'uint64':
      if (w.strict) {
        w.u8(0x6c);
        w.u64Big(v.value);
        return;
      }
      if (v.value > 0x7fff_ffff_ffff_ffffn) {
        throw new BrokerError(
          'DSP_BROKER_INVALID_ARGUMENT',
          'uint64 field value too large for RabbitMQ type l',
        );
      }
      w.u8(0x6c);
      w.i64Big(v.value);
      return;
    case 'float':
      w.u8(0x66);
      w.f32(v.value);
      return;
    case 'double':
      w.u8(0x64);
      w.f64(v.value);
      return;
    case 'decimal':
      w.u8(0x44);
      w.u8(v.scale);
      w.u32(v.value);
      return;
    case 'shortstr':
      if (w.strict) {
        w.u8(0x73);
        w.shortStr(v.value);
      } else {
        w.u8(0x53);
        w.longStr(v.value);
      }
      return;
    case 'longstr':
      w.u8(0x53);
      w.longStr(v.value);
      return;
    case 'bytes':
      w.u8(w.strict ? 0x53 : 0x78);
      w.longStr(v.value);
      return;
    case 'array': {
      w.u8(0x41);
      const start = w.pos;
      w.u32(0);
      for (const item of v.value) writeFieldValue(w, item);
      w.buf.writeUInt32BE(w.pos - start - 4, start);
      return;
    }
    case 'timestamp':
      w.u8(0x54);
      w.u64(v.value);
      return;
    case 'table':
      w.u8(0x46);
      writeFieldTable(w, v.value);
      return;
    case 'void':
      w.u8(0x56);
      return;
    default:
      assertNever(v);
  }
}

function assertNever(v: never): never {
  throw new BrokerError('DSP_BROKER_INVALID_ARGUMENT', `unknown field value ${JSON.stringify(v)}`);
}

// ---- helpers to build and read values -------------------------------------------------------------

/** A long-string value from text. */
export function str(value: string): FieldValue {
  return { type: 'longstr', value: Buffer.from(value) };
}

/** The text of a string value (longstr, shortstr or bytes), else undefined. */
export function fieldString(v: FieldValue | undefined): string | undefined {
  if (v === undefined) return undefined;
  switch (v.type) {
    case 'longstr':
    case 'bytes':
      return v.value.toString('utf8');
    case 'shortstr':
      return v.value;
    default:
      return undefined;
  }
}

/** The value of an integer field (any width) as a number, else undefined. */
export function fieldInteger(v: FieldValue | undefined): number | undefined {
  if (v === undefined) return undefined;
  switch (v.type) {
    case 'int8':
    case 'uint8':
    case 'int16':
    case 'uint16':
    case 'int32':
    case 'uint32':
      return v.value;
    case 'int64':
    case 'uint64':
      return Number(v.value);
    default:
      return undefined;
  }
}

/** The boolean of a `bool` field, else undefined. */
export function fieldBoolean(v: FieldValue | undefined): boolean | undefined {
  return v?.type === 'bool' ? v.value : undefined;
}

/**
 * Equality of two field values as RabbitMQ compares them (headers-exchange matching, argument
 * equivalence): numbers compare by value across integer widths; strings by bytes.
 */
export function fieldValuesEqual(a: FieldValue, b: FieldValue): boolean {
  const an = numericValue(a);
  if (an !== undefined) {
    const bn = numericValue(b);
    return bn !== undefined && an === bn;
  }
  switch (a.type) {
    case 'bool':
      return b.type === 'bool' && a.value === b.value;
    case 'longstr':
    case 'bytes':
    case 'shortstr': {
      const bs =
        b.type === 'longstr' || b.type === 'bytes'
          ? b.value
          : b.type === 'shortstr'
            ? Buffer.from(b.value)
            : undefined;
      const as = a.type === 'shortstr' ? Buffer.from(a.value) : a.value;
      return bs !== undefined && as.equals(bs);
    }
    case 'decimal':
      return b.type === 'decimal' && a.scale === b.scale && a.value === b.value;
    case 'void':
      return b.type === 'void';
    case 'array':
      return (
        b.type === 'array' &&
        a.value.length === b.value.length &&
        a.value.every((item, i) => fieldValuesEqual(item, b.value[i]!))
      );
    case 'table':
      return b.type === 'table' && fieldTablesEqual(a.value, b.value);
    default:
      return false;
  }
}

export function fieldTablesEqual(
  a: ReadonlyMap<string, FieldValue>,
  b: ReadonlyMap<string, FieldValue>,
): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const other = b.get(k);
    if (other === undefined || !fieldValuesEqual(v, other)) return false;
  }
  return true;
}

function numericValue(v: FieldValue): number | bigint | undefined {
  switch (v.type) {
    case 'int8':
    case 'uint8':
    case 'int16':
    case 'uint16':
    case 'int32':
    case 'uint32':
    case 'float':
    case 'double':
    case 'timestamp':
      return v.value;
    case 'int64':
    case 'uint64':
      return Number.isSafeInteger(Number(v.value)) ? Number(v.value) : v.value;
    default:
      return undefined;
  }
}
