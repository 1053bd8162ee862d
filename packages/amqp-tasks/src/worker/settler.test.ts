import { EventEmitter } from 'node:events';
import { exponentialBackoff, noopLogger, type RetryPolicy } from '@dispatcher/core';
import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { ConfirmTracker } from '../connection/confirm-tracker.js';
import { DelayQueues } from '../delay-queues.js';
import { TasksError } from '../errors.js';
import type { AnyTaskConfig } from '../task-config.js';
import { createReporter, TasksEvents } from '../task-events.js';
import { TaskHeaders } from '../task-headers.js';
import { AckBatcher } from './ack-batcher.js';
import type { ChannelSlot } from './channel-slot.js';
import type { PreparedDelivery } from './prepared-delivery.js';
import { type SettleCounters, Settler } from './settler.js';

/**
 * A confirm channel without a broker: records what the settler publishes and settles, and confirms each
 * publish (or refuses it) on the next turn, as a broker would.
 */
class FakeChannel extends EventEmitter {
  readonly published: Array<{ queue: string; headers: Record<string, unknown> }> = [];
  readonly settled: Array<{ tag: number; how: 'ack' | 'requeue' | 'reject' }> = [];
  confirm: 'ack' | 'nack' = 'ack';
  #tag = 0;

  publish(
    _exchange: string,
    queue: string,
    _content: Buffer,
    options: { headers?: Record<string, unknown> },
  ) {
    this.published.push({ queue, headers: options.headers ?? {} });
    const deliveryTag = ++this.#tag;
    const kind = this.confirm;
    setImmediate(() => this.emit(kind, { deliveryTag, multiple: false }));
    return true;
  }

  ack(msg: ConsumeMessage, multiple = false) {
    if (multiple) throw new Error('the fake acks one tag at a time');
    this.settled.push({ tag: msg.fields.deliveryTag, how: 'ack' });
  }

  nack(msg: ConsumeMessage, _allUpTo: boolean, requeue: boolean) {
    this.settled.push({ tag: msg.fields.deliveryTag, how: requeue ? 'requeue' : 'reject' });
  }

  async close() {
    this.emit('close');
  }
}

function setup(policy: RetryPolicy = exponentialBackoff({ baseMs: 1, capMs: 1, maxAttempts: 2 })) {
  const channel = new FakeChannel();
  const confirmChannel = channel as unknown as ConfirmChannel;
  const slot: ChannelSlot = {
    channel: confirmChannel,
    tracker: new ConfirmTracker(confirmChannel),
    delayQueues: new DelayQueues(),
    acks: new AckBatcher(confirmChannel, () => {}),
    consumerTag: 'w',
    alive: true,
  };
  const events = new TasksEvents(noopLogger);
  const seen: string[] = [];
  for (const name of [
    'task:succeeded',
    'task:failed',
    'task:retried',
    'task:dead-lettered',
    'ack:dropped',
  ] as const) {
    events.on(name, () => seen.push(name));
  }
  const counters: SettleCounters = { succeeded: 0, failed: 0, retried: 0, deadLettered: 0, droppedAcks: 0 };
  let running = true;
  const settler = new Settler({
    worker: 'w',
    queue: 'q',
    reporter: createReporter(noopLogger, events),
    debug: false,
    counters,
    retryPolicy: () => policy,
    isRunning: () => running,
  });
  let tag = 0;
  const deliver = (attempt = 1): PreparedDelivery => {
    const msg = {
      content: Buffer.from('{"uuid":"u1","name":"t","args":[]}'),
      fields: { deliveryTag: ++tag, redelivered: false, exchange: '', routingKey: 'q', consumerTag: 'w' },
      properties: { headers: { [TaskHeaders.attempt]: attempt }, messageId: 'u1' },
    } as unknown as ConsumeMessage;
    slot.acks.received(msg);
    return {
      slot,
      msg,
      uuid: 'u1',
      name: 't',
      args: [],
      config: { fn: () => undefined } as AnyTaskConfig,
      attempt,
      firstAttemptAt: Date.now(),
      headers: msg.properties.headers ?? {},
    };
  };
  /** Acks leave in a batch one turn later. */
  const flushed = () => new Promise((resolve) => setImmediate(resolve));
  return { channel, slot, settler, counters, seen, deliver, flushed, stop: () => (running = false) };
}

describe('Settler', () => {
  it('acks a success once and counts it', async () => {
    const t = setup();
    const d = t.deliver();
    await t.settler.settle(d, { kind: 'ok', value: 1 }, 5);
    expect(t.settler.settleOn(d, 'ack')).toBe(false); // a second settle of the same tag is refused
    await t.flushed();
    expect(t.channel.settled).toEqual([{ tag: 1, how: 'ack' }]);
    expect(t.counters).toMatchObject({ succeeded: 1, failed: 0 });
    expect(t.seen).toEqual(['task:succeeded']);
  });

  it('retries a failure through the queue with attempt+1 and its error, then acks the original', async () => {
    const t = setup();
    const d = t.deliver();
    await t.settler.settle(d, { kind: 'failed', error: new Error('boom') }, 5);
    await t.flushed();
    expect(t.channel.published).toHaveLength(1);
    expect(t.channel.published[0]?.queue).toBe('q');
    expect(t.channel.published[0]?.headers).toMatchObject({
      [TaskHeaders.attempt]: 2,
      [TaskHeaders.errorMessage]: 'boom',
    });
    expect(t.channel.settled).toEqual([{ tag: 1, how: 'ack' }]);
    expect(t.counters).toMatchObject({ failed: 1, retried: 1, deadLettered: 0 });
  });

  it('dead-letters when the policy gives up, with the reason headers', async () => {
    const t = setup();
    const d = t.deliver(2);
    await t.settler.settle(d, { kind: 'failed', error: new Error('last') }, 5);
    await t.flushed();
    expect(t.channel.published.map((p) => p.queue)).toEqual(['q.dead']);
    expect(t.channel.published[0]?.headers).toMatchObject({
      [TaskHeaders.deadLetterReason]: 'failed',
      [TaskHeaders.attempts]: 2,
      [TaskHeaders.worker]: 'w',
    });
    expect(t.channel.settled).toEqual([{ tag: 1, how: 'ack' }]);
    expect(t.counters).toMatchObject({ failed: 1, deadLettered: 1 });
  });

  it('dead-letters when the retry policy itself throws, instead of wedging', async () => {
    const broken: RetryPolicy = {
      next: () => {
        throw new Error('policy bug');
      },
    };
    const t = setup(broken);
    const d = t.deliver();
    await t.settler.settle(d, { kind: 'failed', error: new Error('boom') }, 5);
    await t.flushed();
    expect(t.channel.published.map((p) => p.queue)).toEqual(['q.dead']);
    expect(t.channel.published[0]?.headers[TaskHeaders.errorMessage]).toBe('policy bug');
    expect(t.channel.settled).toEqual([{ tag: 1, how: 'ack' }]);
  });

  it('requeues on shutdown and drops (counted) when the channel is lost', async () => {
    const t = setup();
    const a = t.deliver();
    await t.settler.settle(a, { kind: 'failed', error: new TasksError('DSP_TASKS_SHUTDOWN', 'x') }, 1);
    const b = t.deliver();
    await t.settler.settle(b, { kind: 'failed', error: new TasksError('DSP_TASKS_CHANNEL_LOST', 'x') }, 1);
    await t.flushed();
    expect(t.channel.settled).toEqual([{ tag: 1, how: 'requeue' }]);
    expect(t.counters).toMatchObject({ failed: 0, droppedAcks: 1 });
    expect(t.seen).toEqual(['ack:dropped']);
  });

  it('requeues (not acks) a delivery whose retry copy the broker refused: at once while closing', async () => {
    const t = setup();
    t.channel.confirm = 'nack';
    t.stop();
    const d = t.deliver();
    await t.settler.settle(d, { kind: 'failed', error: new Error('boom') }, 5);
    await t.flushed();
    expect(t.channel.settled).toEqual([{ tag: 1, how: 'requeue' }]);
    expect(t.counters.retried).toBe(0);
  });

  it('parks a refused copy and requeues it only when asked while running (no hot loop)', async () => {
    const t = setup();
    t.channel.confirm = 'nack';
    const d = t.deliver(2);
    await t.settler.settle(d, { kind: 'failed', error: new Error('boom') }, 5);
    await t.flushed();
    expect(t.channel.settled).toEqual([]);
    t.settler.requeuePausedNow();
    expect(t.channel.settled).toEqual([{ tag: 1, how: 'requeue' }]);
  });

  it('drops every settle once its channel is gone', async () => {
    const t = setup();
    const d = t.deliver();
    t.slot.alive = false;
    await t.settler.settle(d, { kind: 'ok', value: 1 }, 5);
    await t.flushed();
    expect(t.channel.settled).toEqual([]);
    expect(t.counters).toMatchObject({ succeeded: 0, droppedAcks: 1 });
  });
});
