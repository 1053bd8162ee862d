import { EventEmitter } from 'node:events';
import type { ConfirmChannel, Options } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { ConfirmTracker } from './confirm-tracker.js';

interface Sent {
  routingKey: string;
  options: Options.Publish;
}

/** Just enough of a confirm channel: records publishes; the test plays the broker's return/ack frames. */
class FakeChannel extends EventEmitter {
  readonly sent: Sent[] = [];
  publish(_exchange: string, routingKey: string, _content: Buffer, options: Options.Publish): boolean {
    this.sent.push({ routingKey, options });
    return true;
  }
  /** basic.return of publish number `n` (1-based), carrying its properties as the broker does. */
  returnOf(n: number): void {
    const sent = this.sent[n - 1]!;
    this.emit('return', {
      fields: { replyCode: 312, replyText: 'NO_ROUTE', exchange: '', routingKey: sent.routingKey },
      properties: { messageId: sent.options.messageId, headers: sent.options.headers ?? {} },
      content: Buffer.alloc(0),
    });
  }
  ack(deliveryTag: number, multiple = false): void {
    this.emit('ack', { deliveryTag, multiple });
  }
}

function setup() {
  const channel = new FakeChannel();
  const tracker = new ConfirmTracker(channel as unknown as ConfirmChannel);
  const outcome = (p: Promise<void>) =>
    p.then(
      () => 'ok',
      (err: { code?: string }) => err.code,
    );
  return { channel, tracker, outcome };
}

describe('ConfirmTracker', () => {
  it('matches a return to its own publish when two in flight share a message id (multiple ack)', async () => {
    const { channel, tracker, outcome } = setup();
    const routed = outcome(tracker.publish('', 'q', Buffer.alloc(0), { messageId: 'same' }).confirmed);
    const lost = outcome(tracker.publish('', 'none', Buffer.alloc(0), { messageId: 'same' }).confirmed);
    channel.returnOf(2);
    channel.ack(2, true);
    expect(await routed).toBe('ok');
    expect(await lost).toBe('DSP_TASKS_UNROUTABLE');
  });

  it('matches returns in any order of returns and single acks', async () => {
    const { channel, tracker, outcome } = setup();
    const publishes = ['none', 'q', 'none', 'q'].map((key) =>
      outcome(tracker.publish('', key, Buffer.alloc(0), { messageId: 'dup' }).confirmed),
    );
    channel.returnOf(3);
    channel.returnOf(1);
    channel.ack(4);
    channel.ack(3);
    channel.ack(2);
    channel.ack(1);
    expect(await Promise.all(publishes)).toEqual([
      'DSP_TASKS_UNROUTABLE',
      'ok',
      'DSP_TASKS_UNROUTABLE',
      'ok',
    ]);
  });

  it('tells a generated id from an equal user id', async () => {
    const { channel, tracker, outcome } = setup();
    const user = outcome(tracker.publish('', 'q', Buffer.alloc(0), { messageId: 'dsp-1' }).confirmed);
    const anonymous = outcome(tracker.publish('', 'none', Buffer.alloc(0), {}).confirmed);
    expect(channel.sent[1]!.options.messageId).toBe('dsp-1');
    channel.returnOf(2);
    channel.ack(2, true);
    expect(await user).toBe('ok');
    expect(await anonymous).toBe('DSP_TASKS_UNROUTABLE');
  });

  it('tags only publishes whose id is already in flight, and drops a stale tag it did not set', async () => {
    const { channel, tracker } = setup();
    tracker.publish('', 'q', Buffer.alloc(0), { messageId: 'a' });
    tracker.publish('', 'q', Buffer.alloc(0), { messageId: 'b' });
    tracker.publish('', 'q', Buffer.alloc(0), { messageId: 'a', headers: { keep: 1 } });
    // A message consumed and sent on again carries the tag of its earlier publish.
    tracker.publish('', 'q', Buffer.alloc(0), { messageId: 'c', headers: { 'x-dispatcher-publish-tag': 1 } });
    const tags = channel.sent.map((s) => s.options.headers?.['x-dispatcher-publish-tag']);
    expect(tags).toEqual([undefined, undefined, 3, undefined]);
    expect(channel.sent[2]!.options.headers?.keep).toBe(1);
  });

  it('settles every publish once over thousands in flight, with single and multiple acks in any order', () => {
    const { channel, tracker } = setup();
    const outcomes = new Map<number, number>();
    const send = (n: number) =>
      tracker.send('', 'q', Buffer.alloc(0), { messageId: `m${n}` }, () =>
        outcomes.set(n, (outcomes.get(n) ?? 0) + 1),
      );
    for (let n = 1; n <= 3_000; n++) send(n);
    // Singles out of order (every third, backwards), then multiples in steps, past the compaction size.
    for (let tag = 2_999; tag >= 1; tag -= 3) channel.ack(tag);
    for (let tag = 500; tag <= 2_500; tag += 500) channel.ack(tag, true);
    // Left: 2501..3000 except the 167 tags of the singles (2501, 2504 … 2999).
    expect(tracker.inFlight).toBe(333);
    // More publishes after a compaction keep their own tags.
    for (let n = 3_001; n <= 3_010; n++) send(n);
    channel.ack(3_005);
    expect(outcomes.get(3_005)).toBe(1);
    channel.ack(3_010, true);
    channel.ack(3_010, true); // a repeated ack settles nothing twice
    expect(tracker.inFlight).toBe(0);
    expect(outcomes.size).toBe(3_010);
    expect([...outcomes.values()].every((count) => count === 1)).toBe(true);
  });

  it('rejects what is unconfirmed when the channel closes, and nothing that was confirmed', async () => {
    const { channel, tracker, outcome } = setup();
    const first = outcome(tracker.publish('', 'q', Buffer.alloc(0), { messageId: 'a' }).confirmed);
    const second = outcome(tracker.publish('', 'q', Buffer.alloc(0), { messageId: 'b' }).confirmed);
    const third = outcome(tracker.publish('', 'q', Buffer.alloc(0), { messageId: 'c' }).confirmed);
    channel.ack(2);
    channel.emit('close');
    expect(await Promise.all([first, second, third])).toEqual([
      'DSP_TASKS_CHANNEL_LOST',
      'ok',
      'DSP_TASKS_CHANNEL_LOST',
    ]);
    expect(tracker.inFlight).toBe(0);
    await tracker.whenIdle();
  });
});
