/**
 * Headers exchange: a binding's arguments are matched against the message's `headers` property.
 * `x-match` selects `all` (default), `any`, `all-with-x` or `any-with-x`; without `-with-x`, binding
 * arguments starting with `x-` are ignored. A binding argument of type void matches on presence alone.
 * Values compare as RabbitMQ compares them (numbers by value across widths).
 */
import { type FieldTable, type FieldValue, fieldString, fieldValuesEqual } from '../codec/field-table.js';
import type { Message } from '../queue/message.js';

import { BaseExchange, type Binding, type Destination } from './exchange.js';

type MatchMode = 'all' | 'any' | 'all-with-x' | 'any-with-x';

interface IndexedBinding {
  readonly binding: Binding;
  readonly mode: MatchMode;
  readonly pairs: readonly (readonly [string, FieldValue])[];
}

/** The x-match mode of binding arguments, or undefined when invalid. */
export function headersMatchMode(args: FieldTable): MatchMode | undefined {
  const v = args.get('x-match');
  if (v === undefined) return 'all';
  const s = fieldString(v);
  return s === 'all' || s === 'any' || s === 'all-with-x' || s === 'any-with-x' ? s : undefined;
}

export class HeadersExchange extends BaseExchange {
  readonly type = 'headers' as const;
  #bindings: IndexedBinding[] = [];

  route(message: Message, _routingKey: string, out: Set<Destination>): void {
    if (this.#bindings.length === 0) return;
    const headers = message.properties.headers ?? EMPTY;
    for (const b of this.#bindings) {
      if (!out.has(b.binding.destination) && matches(b, headers)) out.add(b.binding.destination);
    }
  }

  protected addToIndex(binding: Binding): void {
    const mode = headersMatchMode(binding.arguments) ?? 'all';
    const withX = mode === 'all-with-x' || mode === 'any-with-x';
    const pairs = [...binding.arguments.entries()].filter(
      ([k]) => k !== 'x-match' && (withX || !k.startsWith('x-')),
    );
    this.#bindings.push({ binding, mode, pairs });
  }

  protected removeFromIndex(binding: Binding): void {
    this.#bindings = this.#bindings.filter((b) => b.binding !== binding);
  }
}

const EMPTY: FieldTable = new Map();

function matches(b: IndexedBinding, headers: FieldTable): boolean {
  const any = b.mode === 'any' || b.mode === 'any-with-x';
  for (const [key, expected] of b.pairs) {
    const actual = headers.get(key);
    const ok = actual !== undefined && (expected.type === 'void' || fieldValuesEqual(expected, actual));
    if (any && ok) return true;
    if (!any && !ok) return false;
  }
  return !any;
}
