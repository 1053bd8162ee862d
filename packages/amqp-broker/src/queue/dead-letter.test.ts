import { describe, expect, it } from 'vitest';
import { ByteWriter } from '../codec/byte-writer.js';
import { type FieldTable, type FieldValue, fieldString, str } from '../codec/field-table.js';
import { type BasicProperties, encodeBasicProperties } from '../codec/generated/amqp-spec.js';
import { deadLetteredMessage, isDeadLetterCycle } from './dead-letter.js';
import { Message } from './message.js';

function msg(props: BasicProperties, exchange = 'ex', routingKey = 'rk'): Message {
  const w = new ByteWriter(64);
  encodeBasicProperties(w, props);
  return new Message(exchange, routingKey, w.toBuffer(), Buffer.from('body'));
}

const deaths = (m: Message): FieldTable[] => {
  const v = m.properties.headers?.get('x-death');
  return v?.type === 'array' ? v.value.map((d) => (d.type === 'table' ? d.value : new Map())) : [];
};
const plain = (t: FieldTable) =>
  [...t.entries()].map(([k, v]: [string, FieldValue]) => [
    k,
    v.type === 'array' ? v.value.map(fieldString) : (fieldString(v) ?? v.type),
  ]);
const T0 = 1_700_000_000_123;

describe('deadLetteredMessage', () => {
  it('writes the first x-death in RabbitMQ field order plus x-first-death-*, sorted headers', () => {
    const original = msg({
      expiration: '500',
      headers: new Map([
        ['zz', str('z')],
        ['CC', { type: 'array', value: [str('k2')] }],
      ]),
      messageId: 'id',
    });
    original.extraRoutingKeys = ['k2', 'k3'];
    const dead = deadLetteredMessage(
      original,
      'expired',
      'q1',
      { exchange: 'dlx', routingKey: undefined },
      T0,
    );
    expect(dead.exchange).toBe('dlx');
    expect(dead.routingKey).toBe('rk');
    expect(dead.extraRoutingKeys).toEqual(['k2', 'k3']);
    expect(dead.properties.expiration).toBeUndefined();
    expect(dead.properties.messageId).toBe('id');
    expect([...dead.properties.headers!.keys()]).toEqual([
      'CC',
      'x-death',
      'x-first-death-exchange',
      'x-first-death-queue',
      'x-first-death-reason',
      'zz',
    ]);
    const [d] = deaths(dead);
    expect(plain(d!)).toEqual([
      ['count', 'int64'],
      ['reason', 'expired'],
      ['queue', 'q1'],
      ['time', 'timestamp'],
      ['exchange', 'ex'],
      ['routing-keys', ['rk', 'k2']],
      ['original-expiration', '500'],
    ]);
    expect(d!.get('count')).toEqual({ type: 'int64', value: 1n });
    expect(d!.get('time')).toEqual({ type: 'timestamp', value: Math.floor(T0 / 1000) });
    expect(dead.body).toBe(original.body);
  });

  it('increments a repeated (queue, reason), moves it first with sorted fields; prepends a new one', () => {
    const target = { exchange: '', routingKey: 'q1' };
    const once = deadLetteredMessage(msg({}), 'rejected', 'q1', target, T0);
    const other = deadLetteredMessage(once, 'expired', 'q2', target, T0 + 5000);
    expect(deaths(other).map((d) => [fieldString(d.get('queue')), d.get('count')])).toEqual([
      ['q2', { type: 'int64', value: 1n }],
      ['q1', { type: 'int64', value: 1n }],
    ]);
    expect([...deaths(other)[0]!.keys()]).toEqual([
      'count',
      'exchange',
      'queue',
      'reason',
      'routing-keys',
      'time',
    ]);
    const again = deadLetteredMessage(other, 'rejected', 'q1', target, T0 + 9000);
    const [first, second] = deaths(again);
    expect(fieldString(first!.get('queue'))).toBe('q1');
    expect(first!.get('count')).toEqual({ type: 'int64', value: 2n });
    // The time of the first death is kept.
    expect(first!.get('time')).toEqual({ type: 'timestamp', value: Math.floor(T0 / 1000) });
    expect(fieldString(second!.get('queue'))).toBe('q2');
    expect(fieldString(again.properties.headers!.get('x-first-death-queue'))).toBe('q1');
  });

  it('with a dead-letter routing key: routes with it and removes CC', () => {
    const original = msg({ headers: new Map([['CC', { type: 'array', value: [str('k2')] }]]) });
    original.extraRoutingKeys = ['k2'];
    const dead = deadLetteredMessage(original, 'rejected', 'q', { exchange: 'd', routingKey: 'dlrk' }, T0);
    expect(dead.routingKey).toBe('dlrk');
    expect(dead.extraRoutingKeys).toBeUndefined();
    expect(dead.properties.headers!.has('CC')).toBe(false);
  });
});

describe('isDeadLetterCycle', () => {
  const target = { exchange: '', routingKey: undefined };
  it('is a cycle when the queue already let it die automatically', () => {
    const once = deadLetteredMessage(msg({}), 'expired', 'a', target, T0);
    const twice = deadLetteredMessage(once, 'maxlen', 'b', target, T0);
    expect(isDeadLetterCycle(twice, 'maxlen', 'a')).toBe(true);
    expect(isDeadLetterCycle(twice, 'maxlen', 'c')).toBe(false);
  });
  it('is no cycle when a rejection is part of it', () => {
    const once = deadLetteredMessage(msg({}), 'rejected', 'a', target, T0);
    const twice = deadLetteredMessage(once, 'expired', 'b', target, T0);
    expect(isDeadLetterCycle(twice, 'expired', 'a')).toBe(false);
    expect(isDeadLetterCycle(twice, 'rejected', 'b')).toBe(false);
  });
});
