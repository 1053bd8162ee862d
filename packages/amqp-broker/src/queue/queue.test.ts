import type { Logger } from '@dispatcher/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type FieldValue, str } from '../codec/field-table.js';
import { Message } from './message.js';
import { Queue, type QueueConsumer, type QueueEntry } from './queue.js';

const msg = (body: string) => new Message('', 'q', Buffer.from([0, 0]), Buffer.from(body));
const newQueue = (autoDelete = false) =>
  new Queue({ name: 'q', durable: false, owner: undefined, autoDelete, arguments: new Map() });

function consumer(
  tag: string,
  credit: number,
  priority = 0,
): QueueConsumer & { got: string[]; entries: QueueEntry[] } {
  const got: string[] = [];
  const entries: QueueEntry[] = [];
  return {
    tag,
    exclusive: false,
    priority,
    got,
    entries,
    canDeliver: () => got.length < credit,
    deliver: (_q, e) => {
      got.push(e.message.body.toString());
      entries.push(e);
    },
    cancelledByBroker: () => {},
  };
}

describe('Queue', () => {
  it('requeues to the original position, marked redelivered', () => {
    const q = newQueue();
    for (const b of ['1', '2', '3', '4']) q.enqueue(msg(b));
    const e1 = q.shift()!;
    const e2 = q.shift()!;
    q.unacked = 2;
    q.requeue([e2]);
    q.requeue([e1]);
    const order: [string, boolean][] = [];
    for (let e = q.shift(); e !== undefined; e = q.shift())
      order.push([e.message.body.toString(), e.redelivered]);
    expect(order).toEqual([
      ['1', true],
      ['2', true],
      ['3', false],
      ['4', false],
    ]);
    expect(q.unacked).toBe(0);
  });

  it('round-robins among consumers with credit, highest priority first', () => {
    const q = newQueue();
    const a = consumer('a', 100);
    const b = consumer('b', 100);
    q.addConsumer(a);
    q.addConsumer(b);
    for (let i = 0; i < 4; i++) q.enqueue(msg(String(i)));
    expect(a.got).toEqual(['0', '2']);
    expect(b.got).toEqual(['1', '3']);
    const high = consumer('high', 1, 10);
    q.addConsumer(high);
    q.enqueue(msg('4'));
    q.enqueue(msg('5'));
    expect(high.got).toEqual(['4']);
    expect([...a.got, ...b.got]).toContain('5');
  });

  it('keeps messages while no consumer has credit and stores one message object for all', () => {
    const q = newQueue();
    const c = consumer('c', 1);
    q.addConsumer(c);
    const m = msg('x');
    q.enqueue(m);
    q.enqueue(msg('y'));
    expect(c.got).toEqual(['x']);
    expect(c.entries[0]!.message).toBe(m);
    expect(q.messageCount).toBe(1);
  });

  it('calls onUnused when the last consumer of an auto-delete queue leaves', () => {
    const q = newQueue(true);
    let unused = 0;
    q.onUnused = () => unused++;
    const c = consumer('c', 0);
    q.addConsumer(c);
    q.removeConsumer(c);
    expect(unused).toBe(1);
  });
});

describe('Queue failures outside a connection', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A queue with a dead-letter exchange whose dead-lettering throws, and the errors it logged. */
  function failingQueue(args: [string, number | string][]) {
    const errors: unknown[] = [];
    const log = { error: (fields: unknown) => errors.push(fields), child: () => log } as unknown as Logger;
    const q = new Queue({
      name: 'q',
      durable: false,
      owner: undefined,
      autoDelete: false,
      arguments: new Map([
        ['x-dead-letter-exchange', str('dlx')],
        ...args.map(([k, v]): [string, FieldValue] => [
          k,
          typeof v === 'number' ? { type: 'int32', value: v } : str(v),
        ]),
      ]),
      log,
    });
    q.onDeadLetter = () => {
      throw new Error('dead-lettering broke');
    };
    return { q, errors };
  }

  it('logs a dead-lettering failure in the TTL timer instead of throwing out of it', () => {
    vi.useFakeTimers();
    const { q, errors } = failingQueue([['x-message-ttl', 50]]);
    q.enqueue(msg('a'));
    q.enqueue(msg('b'));
    // An exception escaping the timer would be thrown out of advanceTimersByTime.
    vi.advanceTimersByTime(100);
    expect(q.messageCount).toBe(0);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatchObject({ queue: 'q', reason: 'expired' });
  });

  it('logs a dead-lettering failure on drop-head; the queue stays consistent', () => {
    const { q, errors } = failingQueue([['x-max-length', 1]]);
    q.enqueue(msg('a'));
    expect(() => q.enqueue(msg('b'))).not.toThrow();
    expect(q.messageCount).toBe(1);
    expect(q.shift()?.message.body.toString()).toBe('b');
    expect(errors).toEqual([expect.objectContaining({ reason: 'maxlen' })]);
  });

  it('logs a failure of the x-expires timer', () => {
    vi.useFakeTimers();
    const { q, errors } = failingQueue([['x-expires', 100]]);
    q.onExpired = () => {
      throw new Error('delete broke');
    };
    vi.advanceTimersByTime(150);
    expect(errors).toEqual([expect.objectContaining({ queue: 'q' })]);
  });

  it('honours x-expires and x-message-ttl longer than a Node timer can wait (2^31-1 ms)', () => {
    vi.useFakeTimers();
    const long = 3_000_000_000; // ~34.7 days: above 2^31-1, below 2^32-1
    const q = new Queue({
      name: 'q',
      durable: false,
      owner: undefined,
      autoDelete: false,
      arguments: new Map<string, FieldValue>([
        ['x-expires', { type: 'int64', value: BigInt(long) }],
        ['x-message-ttl', { type: 'int64', value: BigInt(long) }],
      ]),
    });
    let expired = false;
    q.onExpired = () => {
      expired = true;
    };
    q.enqueue(msg('a'));
    vi.advanceTimersByTime(1000);
    expect(expired).toBe(false);
    expect(q.messageCount).toBe(1);
    vi.advanceTimersByTime(2 ** 31);
    expect(expired).toBe(false);
    expect(q.messageCount).toBe(1);
    vi.advanceTimersByTime(long - 2 ** 31);
    expect(q.messageCount).toBe(0);
    expect(expired).toBe(true);
  });
});
