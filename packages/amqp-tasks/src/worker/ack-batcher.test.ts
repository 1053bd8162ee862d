import type { Channel, Message } from 'amqplib';
import { IllegalOperationError } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { AckBatcher } from './ack-batcher.js';

/** Records the settles a channel would send; `closing` makes it throw as amqplib does on a closing channel. */
class FakeChannel {
  readonly sent: string[] = [];
  closing = false;

  ack(msg: Message, multiple = false): void {
    this.#check();
    this.sent.push(`ack ${msg.fields.deliveryTag}${multiple ? ' multiple' : ''}`);
  }

  nack(msg: Message, _allUpTo: boolean, requeue: boolean): void {
    this.#check();
    this.sent.push(`nack ${msg.fields.deliveryTag}${requeue ? ' requeue' : ''}`);
  }

  #check(): void {
    if (this.closing) throw new IllegalOperationError('Channel closing', '');
  }
}

const delivery = (deliveryTag: number) => ({ fields: { deliveryTag }, properties: {} }) as unknown as Message;
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

function setup(received: number) {
  const channel = new FakeChannel();
  const drops: number[] = [];
  const acks = new AckBatcher(channel as unknown as Channel, (count) => drops.push(count));
  const messages = Array.from({ length: received }, (_, i) => delivery(i + 1));
  for (const message of messages) acks.received(message);
  return { channel, acks, drops, messages };
}

describe('AckBatcher', () => {
  it('sends the acks of one turn at the next: the front run as one multiple ack, the rest one by one', async () => {
    const { channel, acks, messages } = setup(6);
    // Tag 4 is still running (a slow task): it must not hold back the acks behind it.
    for (const tag of [2, 1, 3, 5, 6]) acks.ack(messages[tag - 1]!);
    expect(channel.sent).toEqual([]);
    expect(acks.pending).toBe(5);
    await nextTurn();
    expect(channel.sent).toEqual(['ack 3 multiple', 'ack 5', 'ack 6']);
    expect(acks.pending).toBe(0);
    acks.ack(messages[3]!);
    await nextTurn();
    expect(channel.sent.at(-1)).toBe('ack 4');
    expect(messages.every((m) => acks.isSettled(m))).toBe(true);
  });

  it('flush() sends what is marked at once (close() calls it before closing the channel)', () => {
    const { channel, acks, messages } = setup(3);
    acks.ack(messages[0]!);
    acks.ack(messages[1]!);
    acks.flush();
    expect(channel.sent).toEqual(['ack 2 multiple']);
    expect(acks.isSettled(messages[2]!)).toBe(false);
  });

  it('a nack sends the pending acks first, then itself at once', () => {
    const { channel, acks, messages } = setup(3);
    acks.ack(messages[0]!);
    acks.nack(messages[1]!, true);
    expect(channel.sent).toEqual(['ack 1', 'nack 2 requeue']);
    expect(acks.isSettled(messages[1]!)).toBe(true);
  });

  it('acks a closing channel refuses are dropped and counted, never sent later', async () => {
    const { channel, acks, drops, messages } = setup(4);
    acks.ack(messages[0]!);
    acks.ack(messages[2]!);
    channel.closing = true;
    await nextTurn();
    expect(channel.sent).toEqual([]);
    expect(drops).toEqual([2]);
    // The channel's state is gone: nothing of it may be settled again.
    expect(messages.every((m) => acks.isSettled(m))).toBe(true);
    channel.closing = false;
    acks.flush();
    expect(channel.sent).toEqual([]);
  });

  it('discard() forgets marked acks (the channel closed) and answers how many it dropped', async () => {
    const { channel, acks, messages } = setup(3);
    acks.ack(messages[0]!);
    acks.ack(messages[1]!);
    expect(acks.discard()).toBe(2);
    await nextTurn();
    expect(channel.sent).toEqual([]);
    expect(acks.discard()).toBe(0);
  });
});
