/**
 * AMQP field tables ↔ the JSON the management API speaks, as RabbitMQ converts them: JSON integers become
 * 64-bit signed integers, other numbers doubles, strings long strings, objects tables, arrays arrays,
 * `null` void; back to JSON, every number is a number, every string (long, short, bytes) a string.
 */
import type { FieldTable, FieldValue } from '../codec/field-table.js';

/** A JSON value read from a request body. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export function fieldValueToJson(v: FieldValue): JsonValue {
  switch (v.type) {
    case 'bool':
      return v.value;
    case 'int64':
    case 'uint64':
      return Number(v.value);
    case 'decimal':
      return v.value / 10 ** v.scale;
    case 'shortstr':
      return v.value;
    case 'longstr':
    case 'bytes':
      return v.value.toString('utf8');
    case 'array':
      return v.value.map(fieldValueToJson);
    case 'table':
      return fieldTableToJson(v.value);
    case 'void':
      return null;
    default:
      return v.value;
  }
}

export function fieldTableToJson(table: ReadonlyMap<string, FieldValue> | undefined): {
  [key: string]: JsonValue;
} {
  const out: { [key: string]: JsonValue } = {};
  if (table !== undefined) for (const [k, v] of table) out[k] = fieldValueToJson(v);
  return out;
}

export function jsonToFieldValue(v: unknown): FieldValue {
  if (v === null || v === undefined) return { type: 'void' };
  if (typeof v === 'boolean') return { type: 'bool', value: v };
  if (typeof v === 'number') {
    return Number.isSafeInteger(v) ? { type: 'int64', value: BigInt(v) } : { type: 'double', value: v };
  }
  if (typeof v === 'string') return { type: 'longstr', value: Buffer.from(v) };
  if (Array.isArray(v)) return { type: 'array', value: v.map(jsonToFieldValue) };
  return { type: 'table', value: jsonToFieldTable(v as Record<string, unknown>) };
}

export function jsonToFieldTable(o: Record<string, unknown> | undefined): FieldTable {
  const table: FieldTable = new Map();
  if (o !== undefined) for (const [k, v] of Object.entries(o)) table.set(k, jsonToFieldValue(v));
  return table;
}
