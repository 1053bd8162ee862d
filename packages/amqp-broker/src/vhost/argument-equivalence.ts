/**
 * Redeclare equivalence of exchange and queue arguments, as RabbitMQ 3.10 checks it: only the arguments
 * it knows are compared (others are ignored); two values are equivalent when both are absent, or when
 * they are of the same type class — every integer width is one class, float and double another, the
 * string types a third — and equal. A difference is a 406 naming the argument and both values the way
 * RabbitMQ prints them: bare values when both are there, `the value '…' of type '…'` or `none` otherwise.
 */
import type { FieldTable, FieldValue } from '../codec/field-table.js';
import { fieldInteger, fieldString, fieldValuesEqual } from '../codec/field-table.js';
import { PRECONDITION_FAILED } from '../codec/generated/amqp-spec.js';
import { rabbitTypeName } from '../codec/rabbit-type-name.js';
import { channelError } from '../errors.js';

/** Throws 406 for the first of `keys` whose value differs between `received` and `current`. */
export function assertArgumentsEquivalent(
  what: string,
  keys: Iterable<string>,
  received: FieldTable,
  current: FieldTable,
): void {
  for (const key of keys) {
    const r = received.get(key);
    const c = current.get(key);
    if (r === undefined && c === undefined) continue;
    if (r !== undefined && c !== undefined) {
      if (typeClass(r) === typeClass(c) && fieldValuesEqual(r, c)) continue;
      throw inequivalent(key, what, `'${erlangText(r)}'`, `'${erlangText(c)}'`);
    }
    throw inequivalent(key, what, described(r), described(c));
  }
}

function inequivalent(key: string, what: string, received: string, current: string) {
  return channelError(
    PRECONDITION_FAILED,
    `inequivalent arg '${key}' for ${what}: received ${received} but current is ${current}`,
  );
}

function described(v: FieldValue | undefined): string {
  return v === undefined ? 'none' : `the value '${erlangText(v)}' of type '${rabbitTypeName(v)}'`;
}

function typeClass(v: FieldValue): string {
  if (fieldInteger(v) !== undefined) return 'int';
  if (v.type === 'float' || v.type === 'double') return 'float';
  if (fieldString(v) !== undefined) return 'string';
  return v.type;
}

/** A value as RabbitMQ's Erlang formatting prints it (close enough for tables and arrays). */
function erlangText(v: FieldValue): string {
  const text = fieldString(v);
  if (text !== undefined) return text;
  switch (v.type) {
    case 'float':
    case 'double':
      return erlangFloat(v.value);
    case 'decimal':
      return `{${v.scale},${v.value}}`;
    case 'void':
      return 'undefined';
    case 'array':
      return `[${v.value.map(erlangText).join(',')}]`;
    case 'table':
      return `[${[...v.value].map(([k, x]) => `{${k},${erlangText(x)}}`).join(',')}]`;
    default:
      return String(v.value);
  }
}

/** Erlang prints floats with a fraction and a bare exponent: 10.0, 1.5, 1.0e21. */
function erlangFloat(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const [mantissa = '', exponent] = String(n).split('e');
  const m = mantissa.includes('.') ? mantissa : `${mantissa}.0`;
  return exponent === undefined ? m : `${m}e${exponent.replace('+', '')}`;
}
