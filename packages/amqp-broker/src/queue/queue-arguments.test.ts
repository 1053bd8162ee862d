import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ByteWriter } from '../codec/byte-writer.js';
import type { FieldValue } from '../codec/field-table.js';
import { str } from '../codec/field-table.js';
import { type BasicProperties, encodeBasicProperties } from '../codec/generated/amqp-spec.js';
import type { DeadLetterReason } from './dead-letter.js';
import { Message } from './message.js';
import { Queue, type QueueConsumer } from './queue.js';

function msg(body: string, props: BasicProperties = {}): Message {
  const w = new ByteWriter(64);
  encodeBasicProperties(w, props);
  return new Message('', 'q', w.toBuffer(), Buffer.from(body));
}

const int = (value: number): FieldValue => ({ type: 'int32', value });

function queue(args: Record<string, FieldValue>, withDlx = true) {
  const q = new Queue({
    name: 'q',
    durable: false,
    owner: undefined,
    autoDelete: false,
    arguments: new Map(
      Object.entries({ ...(withDlx ? { 'x-dead-letter-exchange': str('dlx') } : {}), ...args }),
    ),
  });
  const dead: [string, DeadLetterReason][] = [];
  q.onDeadLetter = (_q, m, reason) => dead.push([m.body.toString(), reason]);
  return { q, dead };
}

function consumer(tag: string, credit = 100): QueueConsumer & { got: string[] } {
  const got: string[] = [];
  return {
    tag,
    exclusive: false,
    priority: 0,
    got,
    canDeliver: () => got.length < credit,
    deliver: (_q, e) => got.push(e.message.body.toString()),
    cancelledByBroker: () => {},
  };
}

const drain = (q: Queue) => {
  const out: string[] = [];
  for (let e = q.shift(); e !== undefined; e = q.shift()) out.push(e.message.body.toString());
  return out;
};

describe('Queue arguments', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('x-message-ttl: one timer expires messages from the head and dead-letters them', () => {
    const { q, dead } = queue({ 'x-message-ttl': int(100) });
    q.enqueue(msg('a'));
    q.enqueue(msg('b'));
    vi.advanceTimersByTime(50);
    q.enqueue(msg('c'));
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(60);
    expect(dead).toEqual([
      ['a', 'expired'],
      ['b', 'expired'],
    ]);
    expect(q.messageCount).toBe(1);
    vi.advanceTimersByTime(50);
    expect(q.messageCount).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('per-message expiration: only the head expires, but basic.get never returns an expired message', () => {
    const { q, dead } = queue({});
    q.enqueue(msg('keep'));
    q.enqueue(msg('short', { expiration: '10' }));
    q.enqueue(msg('capped', { expiration: '60000' }));
    vi.advanceTimersByTime(20);
    expect(q.messageCount).toBe(3);
    expect(drain(q)).toEqual(['keep', 'capped']);
    expect(dead).toEqual([['short', 'expired']]);
  });

  it('the lower of queue TTL and expiration wins; a requeued message keeps its deadline', () => {
    const { q, dead } = queue({ 'x-message-ttl': int(1000) });
    q.enqueue(msg('m', { expiration: '50' }));
    const e = q.shift()!;
    q.unacked = 1;
    vi.advanceTimersByTime(60);
    q.requeue([e]);
    expect(q.messageCount).toBe(0);
    expect(dead).toEqual([['m', 'expired']]);
  });

  it('TTL 0: delivered to a waiting consumer, else dropped at once', () => {
    const { q, dead } = queue({ 'x-message-ttl': int(0) });
    q.enqueue(msg('dropped'));
    const c = consumer('c');
    q.addConsumer(c);
    q.enqueue(msg('delivered'));
    expect(c.got).toEqual(['delivered']);
    expect(dead).toEqual([['dropped', 'expired']]);
  });

  it('consumers never receive expired messages', () => {
    const { q, dead } = queue({ 'x-message-ttl': int(30) });
    q.enqueue(msg('old'));
    vi.setSystemTime(Date.now() + 40); // the timer has not fired yet
    const c = consumer('c');
    q.addConsumer(c);
    expect(c.got).toEqual([]);
    expect(dead).toEqual([['old', 'expired']]);
  });

  it('x-max-length drop-head drops (and dead-letters) the oldest; bytes count bodies', () => {
    const { q, dead } = queue({ 'x-max-length': int(2) });
    for (const b of ['1', '2', '3']) expect(q.enqueue(msg(b))).toBe(true);
    expect(dead).toEqual([['1', 'maxlen']]);
    expect(drain(q)).toEqual(['2', '3']);
    const bytes = queue({ 'x-max-length-bytes': int(5) }, false);
    for (const b of ['aaa', 'bbb', 'cc']) bytes.q.enqueue(msg(b));
    expect(bytes.q.messageBytes).toBe(5);
    expect(drain(bytes.q)).toEqual(['bbb', 'cc']);
  });

  it('reject-publish refuses; reject-publish-dlx refuses and dead-letters', () => {
    const plain = queue({ 'x-max-length': int(1), 'x-overflow': str('reject-publish') });
    expect(plain.q.enqueue(msg('1'))).toBe(true);
    expect(plain.q.enqueue(msg('2'))).toBe(false);
    expect(plain.dead).toEqual([]);
    const dlx = queue({ 'x-max-length': int(1), 'x-overflow': str('reject-publish-dlx') });
    dlx.q.enqueue(msg('1'));
    expect(dlx.q.enqueue(msg('2'))).toBe(false);
    expect(dlx.dead).toEqual([['2', 'maxlen']]);
    expect(drain(dlx.q)).toEqual(['1']);
  });

  it('reject dead-letters an unacked message (rejected)', () => {
    const { q, dead } = queue({});
    q.enqueue(msg('r'));
    const e = q.shift()!;
    q.unacked = 1;
    q.reject(e);
    expect(q.unacked).toBe(0);
    expect(dead).toEqual([['r', 'rejected']]);
    const noDlx = queue({}, false);
    noDlx.q.enqueue(msg('r'));
    noDlx.q.unacked = 1;
    noDlx.q.reject(noDlx.q.shift()!);
    expect(noDlx.dead).toEqual([]);
  });

  it('x-max-priority: highest first, FIFO within a level, capped, requeue keeps position', () => {
    const { q } = queue({ 'x-max-priority': int(5) }, false);
    const sends: [string, number | undefined][] = [
      ['p1', 1],
      ['p5a', 5],
      ['none', undefined],
      ['p9', 9],
      ['p5b', 5],
    ];
    for (const [b, priority] of sends) q.enqueue(msg(b, priority === undefined ? {} : { priority }));
    const first = q.shift()!;
    q.unacked = 1;
    q.requeue([first]);
    expect(drain(q)).toEqual(['p5a', 'p9', 'p5b', 'p1', 'none']);
  });

  it('x-single-active-consumer: only the active consumer receives; fails over on removal', () => {
    const { q } = queue({ 'x-single-active-consumer': { type: 'bool', value: true } }, false);
    const a = consumer('a');
    const b = consumer('b');
    q.addConsumer(a);
    q.addConsumer(b);
    for (const m of ['1', '2']) q.enqueue(msg(m));
    expect(q.activeConsumer).toBe(a);
    q.removeConsumer(a);
    q.enqueue(msg('3'));
    expect(a.got).toEqual(['1', '2']);
    expect(b.got).toEqual(['3']);
    // A blocked active consumer is not bypassed.
    const c = consumer('c');
    q.addConsumer(c);
    const { q: q2 } = queue({ 'x-single-active-consumer': { type: 'bool', value: true } }, false);
    const slow = consumer('slow', 0);
    const idle = consumer('idle');
    q2.addConsumer(slow);
    q2.addConsumer(idle);
    q2.enqueue(msg('x'));
    expect(idle.got).toEqual([]);
    expect(q2.messageCount).toBe(1);
  });

  it('x-expires: deleted after the idle time; consumers, basic.get and redeclare count as use', () => {
    const { q } = queue({ 'x-expires': int(100) }, false);
    let expired = 0;
    q.onExpired = () => expired++;
    vi.advanceTimersByTime(80);
    q.shift();
    vi.advanceTimersByTime(80);
    q.touch();
    vi.advanceTimersByTime(80);
    const c = consumer('c');
    q.addConsumer(c);
    vi.advanceTimersByTime(500);
    expect(expired).toBe(0);
    q.removeConsumer(c);
    vi.advanceTimersByTime(100);
    expect(expired).toBe(1);
  });

  it('delete clears the timers', () => {
    const { q } = queue({ 'x-expires': int(100), 'x-message-ttl': int(100) });
    q.enqueue(msg('a'));
    expect(vi.getTimerCount()).toBe(2);
    q.delete();
    expect(vi.getTimerCount()).toBe(0);
  });
});
