/**
 * Input fairness and publisher flow control, against our broker only (RabbitMQ's credit flow is internal
 * and not observable the same way):
 * - read budget: a publisher that floods its socket is read at most `readBudgetBytes` per event-loop turn,
 *   so other connections keep being served while the flood is parsed;
 * - flow control: above `queueFlowHighWaterMessages` ready messages, a queue's publishers are not read
 *   until it is back at half of it; nothing is lost and order is kept.
 */
import amqp from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { ByteWriter } from '../src/codec/byte-writer.js';
import { writeBodyFrames, writeHeaderFrame, writeMethodFrame } from '../src/codec/frame-encoder.js';
import { MethodId } from '../src/codec/generated/amqp-spec.js';
import type { BrokerServer, BrokerServerOptions } from '../src/index.js';
import { sleep } from './helpers/amqp-helpers.js';
import { RawClient } from './helpers/raw-client.js';
import { startBroker, type Target, uniqueName } from './helpers/targets.js';

/** `count` basic.publish messages to `queue` on channel 1 in one buffer; body i starts with i (u32). */
function publishes(queue: string, count: number, bodyBytes: number): Buffer {
  const w = new ByteWriter(count * (bodyBytes + 64));
  for (let i = 0; i < count; i++) {
    const body = Buffer.alloc(bodyBytes);
    body.writeUInt32BE(i, 0);
    writeMethodFrame(w, 1, {
      id: MethodId.BasicPublish,
      ticket: 0,
      exchange: '',
      routingKey: queue,
      mandatory: false,
      immediate: false,
    });
    writeHeaderFrame(w, 1, 60, body.length, {});
    writeBodyFrames(w, 1, body, 131_072);
  }
  return w.toBuffer();
}

/**
 * The queue's depth once it has passed `highWater` (the publisher is paused from then on: what the broker
 * had read stays counted, nothing more is read). Throws if it does not get there within 10 s.
 */
async function depthPast(ch: amqp.Channel, queue: string, highWater: number): Promise<number> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { messageCount } = await ch.checkQueue(queue);
    if (messageCount > highWater) return messageCount;
    if (Date.now() > deadline) throw new Error(`${queue} stayed at ${messageCount} messages`);
  }
}

async function openPublisher(target: Target): Promise<RawClient> {
  const c = await RawClient.connect(target.port);
  await c.handshake({ heartbeat: 0 });
  c.send(1, { id: MethodId.ChannelOpen, outOfBand: '' });
  await c.expectMethod(MethodId.ChannelOpenOk, 1);
  return c;
}

describe('read budget and flow control', () => {
  let server: BrokerServer | undefined;
  const cleanups: (() => Promise<unknown> | undefined)[] = [];
  const start = async (options: BrokerServerOptions): Promise<Target> => {
    const started = await startBroker(options);
    server = started.server;
    return started.target;
  };
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c()?.catch(() => undefined);
    await server?.close();
    server = undefined;
  });

  it('a flood from one publisher is read in slices: other connections are served meanwhile', async () => {
    const target = await start({ queueFlowHighWaterMessages: 0 });
    const conn = await amqp.connect(target.url);
    cleanups.push(() => conn.close());
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue(uniqueName('flood'), { autoDelete: false });
    const publisher = await openPublisher(target);
    cleanups.push(async () => publisher.socket.destroy());
    const total = 40_000; // ~3.5 MB of frames, written at once
    publisher.write(publishes(queue, total, 32));
    // Every answer to queue.declare(passive) is one turn of the broker's loop that was not spent on the
    // flood; without a read budget the whole flood goes through in a few turns.
    const seen = new Set<number>();
    const started = Date.now();
    for (;;) {
      const { messageCount } = await ch.checkQueue(queue);
      if (messageCount > 0 && messageCount < total) seen.add(messageCount);
      if (messageCount === total || Date.now() - started > 20_000) break;
    }
    expect((await ch.checkQueue(queue)).messageCount).toBe(total);
    expect(seen.size).toBeGreaterThanOrEqual(10);
    await ch.deleteQueue(queue);
  });

  it('pauses a publisher above the watermark, resumes it below half, and loses nothing', async () => {
    const highWater = 200;
    const target = await start({ queueFlowHighWaterMessages: highWater });
    const conn = await amqp.connect(target.url);
    cleanups.push(() => conn.close());
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue(uniqueName('flow'), { autoDelete: false });
    // A consumer that holds its first 50 deliveries unacked: the backlog builds up behind it.
    await ch.prefetch(50);
    const received: number[] = [];
    const held: amqp.ConsumeMessage[] = [];
    let acking = false;
    const total = 3000;
    const done = new Promise<void>((resolve) => {
      void ch.consume(queue, (m) => {
        if (m === null) return;
        received.push(m.content.readUInt32BE(0));
        if (acking) ch.ack(m);
        else held.push(m);
        if (received.length === total) resolve();
      });
    });
    const publisher = await openPublisher(target);
    cleanups.push(async () => publisher.socket.destroy());
    publisher.write(publishes(queue, total, 1024)); // ~3.2 MB
    // A method after the flood: answered only once the broker has read everything before it.
    publisher.send(1, {
      id: MethodId.QueueDeclare,
      ticket: 0,
      queue,
      passive: true,
      durable: false,
      exclusive: false,
      autoDelete: false,
      nowait: false,
      arguments: new Map(),
    });
    // Paused: the backlog stopped just above the watermark (at most one socket read past it) …
    const paused = await depthPast(ch, queue, highWater);
    expect(paused).toBeLessThan(highWater + 100);
    // … and stays there: each answer below is one more turn of the broker's loop, in which an unpaused
    // publisher would have been read (the flood test above shows one read slice per turn).
    for (let turn = 0; turn < 20; turn++) expect((await ch.checkQueue(queue)).messageCount).toBe(paused);
    expect(publisher.frames.some((f) => f.method?.id === MethodId.QueueDeclareOk)).toBe(false);
    expect(held).toHaveLength(50);

    // … the consumer drains it; the publisher is read again each time the queue is at half the watermark.
    acking = true;
    for (const m of held) ch.ack(m);
    let maxDepth = 0;
    const sampler = (async () => {
      while (received.length < total) {
        maxDepth = Math.max(maxDepth, (await ch.checkQueue(queue)).messageCount);
        await sleep(5);
      }
    })();
    await done;
    await sampler;
    expect(received).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(maxDepth).toBeLessThan(highWater + 100);
    // The method after the flood was read once every publish before it had been taken in.
    const ok = await publisher.expectMethod(MethodId.QueueDeclareOk, 1);
    expect(ok.messageCount).toBeLessThan(highWater + 100);
    await ch.deleteQueue(queue);
  });

  it('does not limit a queue without consumers, and lets paused publishers go when the last one leaves', async () => {
    const highWater = 200;
    const target = await start({ queueFlowHighWaterMessages: highWater });
    const conn = await amqp.connect(target.url);
    cleanups.push(() => conn.close());
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue(uniqueName('flow-idle'), { autoDelete: false });
    await ch.prefetch(1);
    const { consumerTag } = await ch.consume(queue, () => undefined); // takes one, never acks
    const publisher = await openPublisher(target);
    cleanups.push(async () => publisher.socket.destroy());
    const total = 2000;
    publisher.write(publishes(queue, total, 1024));
    expect(await depthPast(ch, queue, highWater)).toBeLessThan(highWater + 100);
    // Without a consumer nothing would drain the queue: the publisher is read again, to the end.
    await ch.cancel(consumerTag);
    const started = Date.now();
    while ((await ch.checkQueue(queue)).messageCount < total - 1 && Date.now() - started < 10_000)
      await sleep(20);
    expect((await ch.checkQueue(queue)).messageCount).toBe(total - 1);
    await ch.deleteQueue(queue);
  });

  it('a connection that closes while its reading is paused still finishes closing', async () => {
    // A tiny budget: every socket read pauses the connection until the next turn, the one carrying
    // connection.close included.
    const target = await start({ readBudgetBytes: 1024 });
    const client = await openPublisher(target);
    cleanups.push(async () => client.socket.destroy());
    const w = new ByteWriter(256);
    writeMethodFrame(w, 0, {
      id: MethodId.ConnectionClose,
      replyCode: 200,
      replyText: 'bye',
      classId: 0,
      methodId: 0,
    });
    // Bytes still in flight behind the close stay unread in the paused socket.
    const trailing = publishes('nowhere', 1000, 32);
    client.write(Buffer.concat([publishes('nowhere', 100, 32), w.toBuffer(), trailing]));
    await client.expectMethod(MethodId.ConnectionCloseOk, 0);
    client.socket.end();
    const started = Date.now();
    while (server!.connectionCount > 0 && Date.now() - started < 5000) await sleep(20);
    expect(server!.connectionCount).toBe(0);
  });
});
