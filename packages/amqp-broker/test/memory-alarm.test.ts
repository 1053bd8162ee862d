/**
 * The memory alarm (`memoryHighWaterBytes`): publishing connections get connection.blocked and are not
 * read until the ready bytes fall to half the watermark; connections that never published keep going.
 * RabbitMQ's alarm cannot be triggered from a test, so this runs against our broker only.
 */
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerServer } from '../src/index.js';
import { waitFor } from './helpers/amqp-helpers.js';
import { startBroker, type Target, uniqueName } from './helpers/targets.js';

describe('memory alarm: connection.blocked / unblocked', () => {
  let server: BrokerServer;
  let target: Target;
  beforeAll(async () => {
    ({ server, target } = await startBroker({ memoryHighWaterBytes: 10_000 }));
  });
  afterAll(async () => {
    await server.close();
  });

  it('blocks publishers above the watermark and unblocks them once drained', async () => {
    const publisher = await amqp.connect(target.url);
    const consumer = await amqp.connect(target.url);
    const events: string[] = [];
    publisher.on('blocked', (reason: string) => events.push(`blocked: ${reason}`));
    publisher.on('unblocked', () => events.push('unblocked'));
    consumer.on('blocked', () => events.push('consumer blocked'));
    const cch = await consumer.createChannel();
    const { queue } = await cch.assertQueue(uniqueName('alarm'), { autoDelete: false });
    const pch = await publisher.createChannel();
    for (let i = 0; i < 3; i++) pch.sendToQueue(queue, Buffer.alloc(4000));
    await waitFor(() => events.length > 0, 'connection.blocked');
    expect(events).toEqual(['blocked: low on memory']);
    // The publisher's connection is not read while blocked.
    let answered = false;
    const pending = pch.checkQueue(queue).then((r) => {
      answered = true;
      return r;
    });
    // Round trips on the consumer's connection: turns of the broker's loop after the publisher's method
    // reached it (written first, over loopback), in which an unblocked publisher would have been answered.
    for (let turn = 0; turn < 10; turn++) await cch.checkQueue(queue);
    expect(answered).toBe(false);
    // The consumer connection still works and drains below the low watermark (5000 bytes).
    expect(await cch.get(queue, { noAck: true })).not.toBe(false);
    expect(events).toEqual(['blocked: low on memory']);
    expect(await cch.get(queue, { noAck: true })).not.toBe(false);
    expect((await pending).messageCount).toBe(1);
    expect(events).toEqual(['blocked: low on memory', 'unblocked']);
    await cch.deleteQueue(queue);
    await publisher.close();
    await consumer.close();
  });
});
