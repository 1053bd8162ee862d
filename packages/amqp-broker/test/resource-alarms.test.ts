/**
 * The memory and disk alarms over real sockets with amqplib, the readings injected so every step is
 * deterministic (one test uses the real `statfs`): a publishing connection gets connection.blocked with
 * RabbitMQ's reason and is not read; a consumer on another connection keeps receiving and acking; once the
 * alarms clear it gets connection.unblocked and its pending publishes go through; nothing is lost.
 *
 * RabbitMQ's alarm is not triggered here: `rabbitmqctl set_vm_memory_high_watermark` would block every
 * other test and engineer publishing to the shared RabbitMQ meanwhile. The reasons ("low on memory",
 * "low on disk", "low on memory & disk") follow RabbitMQ 3.10's rabbit_reader.
 */
import { statfsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp, { type ChannelModel } from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import type { BrokerServer, BrokerServerOptions } from '../src/index.js';
import { waitFor } from './helpers/amqp-helpers.js';
import { recordingLogger } from './helpers/recording-logger.js';
import { startBroker, type Target, uniqueName } from './helpers/targets.js';

const body = (i: number): Buffer => {
  const b = Buffer.alloc(64);
  b.writeUInt32BE(i, 0);
  return b;
};

/** The connection's blocked/unblocked events, as `<label> blocked: <reason>` / `<label> unblocked`. */
function recordBlocking(conn: ChannelModel, label: string, events: string[]): void {
  conn.on('blocked', (reason: string) => events.push(`${label} blocked: ${reason}`));
  conn.on('unblocked', () => events.push(`${label} unblocked`));
}

describe('resource alarms: connection.blocked / unblocked', () => {
  let server: BrokerServer | undefined;
  const cleanups: (() => Promise<unknown>)[] = [];
  let memoryBytes = 0;
  let freeBytes = 10_000_000;
  const start = async (options: BrokerServerOptions): Promise<Target> => {
    const started = await startBroker(options);
    server = started.server;
    return started.target;
  };
  const connect = async (target: Target): Promise<ChannelModel> => {
    const conn = await amqp.connect(target.url);
    cleanups.push(() => conn.close());
    return conn;
  };
  const tempDir = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'dsp-broker-disk-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  };
  /** A publisher (confirm channel) and a consumer connection, both recording into `events`, and a queue. */
  const pair = async (target: Target, prefix: string) => {
    const publisher = await connect(target);
    const consumer = await connect(target);
    const events: string[] = [];
    recordBlocking(publisher, 'publisher', events);
    recordBlocking(consumer, 'consumer', events);
    const cch = await consumer.createChannel();
    const { queue } = await cch.assertQueue(uniqueName(prefix), { autoDelete: false });
    return { events, cch, queue, pch: await publisher.createConfirmChannel() };
  };
  /** A new connection publishes once: the blocked/unblocked events it gets (waits for the first). */
  const publishOnce = async (target: Target): Promise<string[]> => {
    const publisher = await connect(target);
    const events: string[] = [];
    recordBlocking(publisher, 'publisher', events);
    const ch = await publisher.createChannel();
    ch.sendToQueue('nowhere', body(0));
    await waitFor(() => events.length > 0, 'connection.blocked');
    return events;
  };
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
    await server?.close();
    server = undefined;
    memoryBytes = 0;
    freeBytes = 10_000_000;
  });

  it('memory above the watermark blocks a publisher while a consumer drains and acks; unblocked, its pending publishes go through', async () => {
    const { logger, entries } = recordingLogger();
    const target = await start({
      memoryHighWatermark: { bytes: 1_000_000 },
      memoryCheckIntervalMs: 0,
      readMemoryBytes: () => memoryBytes,
      logger,
    });
    const { events, cch, queue, pch } = await pair(target, 'mem-alarm');
    for (let i = 0; i < 20; i++) pch.sendToQueue(queue, body(i));
    await pch.waitForConfirms();

    memoryBytes = 2_000_000;
    const status = await server!.checkResources();
    expect(status.memory).toMatchObject({
      alarmed: true,
      usedBytes: 2_000_000,
      highWatermarkBytes: 1_000_000,
    });
    await waitFor(() => events.length > 0, 'connection.blocked');
    expect(events).toEqual(['publisher blocked: low on memory']);
    expect(server!.resourceAlarms().blockedConnections).toBe(1);

    // Published while blocked: they wait, unread, in the publisher's socket — so does its queue.declare.
    const confirmed: number[] = [];
    for (let i = 20; i < 50; i++) {
      pch.sendToQueue(queue, body(i), {}, (err) => {
        if (err === null || err === undefined) confirmed.push(i);
      });
    }
    let publisherAnswered = false;
    void pch.checkQueue(queue).then(() => {
      publisherAnswered = true;
    });

    // The consumer (prefetch 5: it needs its acks read to get all 20) drains what was accepted.
    await cch.prefetch(5);
    const received: number[] = [];
    await cch.consume(queue, (m) => {
      if (m === null) return;
      received.push(m.content.readUInt32BE(0));
      cch.ack(m);
    });
    await waitFor(() => received.length === 20, '20 deliveries');
    for (let round = 0; round < 10; round++) expect((await cch.checkQueue(queue)).messageCount).toBe(0);
    expect(server!.vhost()!.getQueueIfExists(queue)!.unacked).toBe(0);
    expect(received).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(publisherAnswered).toBe(false);
    expect(confirmed).toEqual([]);

    memoryBytes = 500_000;
    expect((await server!.checkResources()).memory.alarmed).toBe(false);
    await waitFor(() => received.length === 50, 'the publishes sent while blocked');
    await pch.waitForConfirms();
    await waitFor(() => publisherAnswered, 'the queue.declare sent while blocked');
    expect(received).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(confirmed).toEqual(Array.from({ length: 30 }, (_, i) => 20 + i));
    expect(events).toEqual(['publisher blocked: low on memory', 'publisher unblocked']);
    expect(server!.resourceAlarms().blockedConnections).toBe(0);
    const alarmLogs = entries.filter((e) => e.msg?.startsWith('memory alarm'));
    expect(alarmLogs.map((e) => [e.level, e.msg, e.fields.usedBytes, e.fields.highWatermarkBytes])).toEqual([
      ['warn', 'memory alarm set: publishing connections are blocked', 2_000_000, 1_000_000],
      ['warn', 'memory alarm cleared: publishing connections are unblocked', 500_000, 1_000_000],
    ]);
  });

  it('little free disk blocks a publisher at its first publish ("low on disk"); it stays blocked until both alarms cleared', async () => {
    const dir = await tempDir();
    const readPaths: string[] = [];
    const target = await start({
      persistDir: dir,
      diskFreeLimitBytes: 1_000_000,
      diskCheckIntervalMs: 0,
      readDiskFreeBytes: async (path) => {
        readPaths.push(path);
        return freeBytes;
      },
      memoryHighWatermark: { bytes: 1_000_000 },
      memoryCheckIntervalMs: 0,
      readMemoryBytes: () => memoryBytes,
    });
    expect(readPaths).toEqual([dir]);
    const { events, cch, queue, pch } = await pair(target, 'disk-alarm');

    freeBytes = 999_999;
    const status = await server!.checkResources();
    expect(status.disk).toMatchObject({
      alarmed: true,
      path: dir,
      freeBytes: 999_999,
      freeLimitBytes: 1_000_000,
    });
    // Not published yet: not blocked (RabbitMQ blocks a connection when it publishes).
    expect(status.blockedConnections).toBe(0);
    pch.sendToQueue(queue, body(0));
    await pch.waitForConfirms();
    await waitFor(() => events.length > 0, 'connection.blocked');
    expect(events).toEqual(['publisher blocked: low on disk']);
    for (let i = 1; i < 11; i++) pch.sendToQueue(queue, body(i));

    // A second alarm while blocked sends nothing more; clearing one of two unblocks nothing.
    memoryBytes = 2_000_000;
    expect((await server!.checkResources()).memory.alarmed).toBe(true);
    freeBytes = 5_000_000;
    const partly = await server!.checkResources();
    expect([partly.disk.alarmed, partly.memory.alarmed, partly.blockedConnections]).toEqual([false, true, 1]);
    expect((await cch.checkQueue(queue)).messageCount).toBe(1);
    expect(events).toEqual(['publisher blocked: low on disk']);

    memoryBytes = 0;
    await server!.checkResources();
    await pch.waitForConfirms();
    await waitFor(() => events.length === 2, 'connection.unblocked');
    expect(events).toEqual(['publisher blocked: low on disk', 'publisher unblocked']);
    expect((await cch.checkQueue(queue)).messageCount).toBe(11);
  });

  it('both alarms at once: the reason names both, as RabbitMQ does', async () => {
    const dir = await tempDir();
    memoryBytes = 2_000_000;
    freeBytes = 0;
    const target = await start({
      persistDir: dir,
      diskCheckIntervalMs: 0,
      readDiskFreeBytes: async () => freeBytes,
      memoryHighWatermark: { bytes: 1_000_000 },
      memoryCheckIntervalMs: 0,
      readMemoryBytes: () => memoryBytes,
    });
    expect(await publishOnce(target)).toEqual(['publisher blocked: low on memory & disk']);
  });

  it('the real statfs: a limit above the free space sets the disk alarm at start, with the figures logged', async () => {
    const dir = await tempDir();
    const { logger, entries } = recordingLogger();
    // Not created yet: the file system of its nearest existing parent is read.
    const persistDir = join(dir, 'not', 'yet');
    const target = await start({ persistDir, diskFreeLimitBytes: Number.MAX_SAFE_INTEGER, logger });
    const s = statfsSync(dir);
    const { disk } = server!.resourceAlarms();
    expect(disk.alarmed).toBe(true);
    expect(disk.path).toBe(persistDir);
    // Within 1 GB of what statfs said a moment earlier (other processes write meanwhile).
    expect(Math.abs((disk.freeBytes ?? 0) - s.bavail * s.bsize)).toBeLessThan(1e9);
    const set = entries.find((e) => e.msg === 'disk alarm set: publishing connections are blocked');
    expect(set?.fields).toMatchObject({ path: persistDir, freeBytes: disk.freeBytes });

    expect(await publishOnce(target)).toEqual(['publisher blocked: low on disk']);
  });

  it('a connection that only consumes is never blocked', async () => {
    memoryBytes = 2_000_000;
    const target = await start({
      memoryHighWatermark: { bytes: 1_000_000 },
      memoryCheckIntervalMs: 0,
      readMemoryBytes: () => memoryBytes,
    });
    expect(server!.resourceAlarms().memory.alarmed).toBe(true);
    const conn = await connect(target);
    const events: string[] = [];
    recordBlocking(conn, 'consumer', events);
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    for (let i = 0; i < 20; i++) expect(await ch.get(queue)).toBe(false);
    expect(events).toEqual([]);
    expect(server!.resourceAlarms().blockedConnections).toBe(0);
  });
});
