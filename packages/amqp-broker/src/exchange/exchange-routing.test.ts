import { describe, expect, it } from 'vitest';
import { ByteWriter } from '../codec/byte-writer.js';
import { type FieldTable, str } from '../codec/field-table.js';
import { encodeBasicProperties } from '../codec/generated/amqp-spec.js';
import { Message } from '../queue/message.js';
import { Queue } from '../queue/queue.js';
import { createExchange } from './create-exchange.js';
import type { ExchangeType } from './exchange.js';

const queue = (name: string) =>
  new Queue({ name, durable: false, owner: undefined, autoDelete: false, arguments: new Map() });
const exchange = (type: ExchangeType) =>
  createExchange(type, {
    name: 'x',
    durable: false,
    autoDelete: false,
    internal: false,
    arguments: new Map(),
  });
function message(headers?: FieldTable): Message {
  const w = new ByteWriter(64);
  encodeBasicProperties(w, headers === undefined ? {} : { headers });
  return new Message('x', '', w.toBuffer(), Buffer.alloc(0));
}
function routed(ex: ReturnType<typeof exchange>, key: string, msg = message()): string[] {
  const out = new Set<Queue>();
  ex.route(msg, key, out);
  return [...out].map((q) => q.name).sort();
}

describe('topic exchange (trie)', () => {
  const cases: [binding: string, key: string, matches: boolean][] = [
    ['a.b.c', 'a.b.c', true],
    ['a.*.c', 'a.b.c', true],
    ['a.*.c', 'a.c', false],
    ['a.#', 'a', true],
    ['a.#', 'a.b.c.d', true],
    ['#', '', true],
    ['#', 'anything.at.all', true],
    ['#.c', 'c', true],
    ['#.c', 'a.b.c', true],
    ['#.c', 'a.b.c.d', false],
    ['a.#.d', 'a.d', true],
    ['a.#.d', 'a.b.c.d', true],
    // The empty key has no words (RabbitMQ 3.10); a dot separates two words, either may be empty.
    ['*', '', false],
    ['#.*', '', false],
    ['*.#', '', false],
    ['#.#', '', true],
    ['a.#', '', false],
    ['*', 'a.b', false],
    ['a.*', 'a.', true],
    ['*.*', 'a', false],
    ['*.*', '.', true],
    ['*.*', 'a.', true],
    ['*.*', '.a', true],
    ['*', '.', false],
    ['#.*', '.', true],
    ['a.*.b', 'a..b', true],
    ['a..b', 'a..b', true],
    ['a..b', 'a.b', false],
    ['#.#', 'a.b', true],
    ['', '', true],
    ['', 'a', false],
    ['', '.', false],
    ['.', '.', true],
    ['.', '', false],
  ];
  for (const [binding, key, matches] of cases) {
    it(`'${binding}' ${matches ? 'matches' : 'does not match'} '${key}'`, () => {
      const ex = exchange('topic');
      ex.bind({ destination: queue('q'), routingKey: binding, arguments: new Map() });
      expect(routed(ex, key)).toEqual(matches ? ['q'] : []);
    });
  }

  it('delivers once per queue however many bindings match, and unbinds cleanly', () => {
    const ex = exchange('topic');
    const q = queue('q');
    ex.bind({ destination: q, routingKey: 'a.*', arguments: new Map() });
    ex.bind({ destination: q, routingKey: 'a.#', arguments: new Map() });
    expect(ex.bind({ destination: q, routingKey: 'a.#', arguments: new Map() })).toBe(false);
    expect(routed(ex, 'a.b')).toEqual(['q']);
    expect(ex.unbind({ destination: q, routingKey: 'a.*', arguments: new Map() })).toBe(true);
    expect(routed(ex, 'a.b')).toEqual(['q']);
    expect(ex.unbindDestination(q)).toBe(1);
    expect(routed(ex, 'a.b')).toEqual([]);
    expect(ex.bindingCount).toBe(0);
  });
});

describe('direct and fanout exchanges', () => {
  it('direct routes on the exact key', () => {
    const ex = exchange('direct');
    ex.bind({ destination: queue('a'), routingKey: 'k', arguments: new Map() });
    ex.bind({ destination: queue('b'), routingKey: 'other', arguments: new Map() });
    expect(routed(ex, 'k')).toEqual(['a']);
  });

  it('fanout ignores the key', () => {
    const ex = exchange('fanout');
    ex.bind({ destination: queue('a'), routingKey: 'k', arguments: new Map() });
    ex.bind({ destination: queue('b'), routingKey: '', arguments: new Map() });
    expect(routed(ex, 'zzz')).toEqual(['a', 'b']);
  });
});

describe('headers exchange', () => {
  const bind = (mode: string, args: [string, ReturnType<typeof str>][]) => {
    const ex = exchange('headers');
    ex.bind({
      destination: queue('q'),
      routingKey: '',
      arguments: new Map([['x-match', str(mode)], ...args]),
    });
    return ex;
  };
  it('all / any / -with-x / void presence', () => {
    const h = (entries: [string, ReturnType<typeof str>][]) => message(new Map(entries));
    expect(
      routed(
        bind('all', [
          ['a', str('1')],
          ['b', str('2')],
        ]),
        '',
        h([
          ['a', str('1')],
          ['b', str('2')],
        ]),
      ),
    ).toEqual(['q']);
    expect(
      routed(
        bind('all', [
          ['a', str('1')],
          ['b', str('2')],
        ]),
        '',
        h([['a', str('1')]]),
      ),
    ).toEqual([]);
    expect(
      routed(
        bind('any', [
          ['a', str('1')],
          ['b', str('2')],
        ]),
        '',
        h([['b', str('2')]]),
      ),
    ).toEqual(['q']);
    expect(routed(bind('all', [['x-k', str('1')]]), '', h([]))).toEqual(['q']);
    expect(routed(bind('all-with-x', [['x-k', str('1')]]), '', h([]))).toEqual([]);
    expect(routed(bind('any-with-x', [['x-k', str('1')]]), '', h([['x-k', str('1')]]))).toEqual(['q']);
    const ex = exchange('headers');
    ex.bind({ destination: queue('q'), routingKey: '', arguments: new Map([['present', { type: 'void' }]]) });
    expect(routed(ex, '', h([['present', str('anything')]]))).toEqual(['q']);
    expect(routed(ex, '', h([]))).toEqual([]);
  });
});
