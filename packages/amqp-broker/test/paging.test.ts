/**
 * Paging (`queueMemoryWindowBytes`): a durable queue keeps only a small window of persistent bodies in
 * memory; the rest stay on disk and are read back, in order, as consumers catch up. The message gauge's
 * watermark (`memoryHighWaterBytes`) is set far below the backlog: if bodies stayed in memory the
 * publisher would be blocked and its confirms would never come.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Channel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { withConnection } from './helpers/amqp-helpers.js';
import { type BrokerChild, startBrokerChild } from './helpers/broker-child.js';

const dirs: string[] = [];
const children: BrokerChild[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) await c.kill();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const WINDOW = 64 * 1024;
const BODY = 1024;

async function broker(persistDir: string): Promise<BrokerChild> {
  const b = await startBrokerChild({
    persistDir,
    queueMemoryWindowBytes: WINDOW,
    memoryHighWaterBytes: 2 * 1024 * 1024,
  });
  children.push(b);
  return b;
}

function persistDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'dsp-paging-'));
  dirs.push(d);
  return d;
}

function body(i: number): Buffer {
  const b = Buffer.alloc(BODY, i & 0xff);
  b.writeUInt32BE(i, 0);
  return b;
}

/** Publishes bodies `from`..`to`-1, persistent, waiting for confirms every 1,000. */
async function publish(ch: ConfirmChannel, queue: string, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) {
    ch.sendToQueue(queue, body(i), { persistent: true });
    if ((i + 1) % 1000 === 0 || i === to - 1) await ch.waitForConfirms();
  }
}

/** Consumes `n` messages (manual acks, acked at once when `ack`), returning them in delivery order. */
function consume(ch: Channel, queue: string, n: number, ack: boolean): Promise<ConsumeMessage[]> {
  return new Promise((resolve, reject) => {
    const got: ConsumeMessage[] = [];
    ch.consume(
      queue,
      (m) => {
        if (m === null) return;
        got.push(m);
        if (ack) ch.ack(m);
        if (got.length === n) resolve(got);
      },
      { noAck: false },
    ).catch(reject);
  });
}

function indexes(ms: readonly ConsumeMessage[]): number[] {
  return ms.map((m) => m.content.readUInt32BE(0));
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, k) => from + k);
}

// Generous: the machine is small and shared; nothing here depends on timing.
describe('paging persistent messages (queueMemoryWindowBytes)', { timeout: 180_000 }, () => {
  it('keeps a 50 MiB backlog out of memory and drains it in order, intact', async () => {
    const n = 50_000;
    const b = await broker(persistDir());
    await withConnection(b.url, async (conn) => {
      const ch = await conn.createConfirmChannel();
      await ch.assertQueue('pq', { durable: true });
      await publish(ch, 'pq', 0, n);
      const s = await b.stats();
      // Only the window and the tail behind it are held as bodies: the last confirm window (1,000) waits
      // there for the next publish to page it out.
      expect(s.alarms.memory.alarmed).toBe(false);
      expect(s.alarms.memory.messageBytes).toBeLessThan(WINDOW + 1000 * BODY + 64 * 1024);
      expect(s.memory.arrayBuffers).toBeLessThan(25 * 1024 * 1024);
      expect((await ch.checkQueue('pq')).messageCount).toBe(n);

      const c = await conn.createChannel();
      await c.prefetch(200);
      const got = await consume(c, 'pq', n, true);
      expect(indexes(got)).toEqual(range(0, n));
      for (const m of got) {
        expect(m.content.length).toBe(BODY);
        expect(m.content[BODY - 1]).toBe(m.content.readUInt32BE(0) & 0xff);
        expect(m.fields.redelivered).toBe(false);
      }
      await c.close();
      await ch.close();
    });
  });

  it('recovers a paged backlog after kill -9: order, redelivered flags, then nothing once acked', async () => {
    const n = 20_000;
    const dir = persistDir();
    let b = await broker(dir);
    await withConnection(b.url, async (conn) => {
      const ch = await conn.createConfirmChannel();
      await ch.assertQueue('pq', { durable: true });
      await publish(ch, 'pq', 0, n);
      // The first 50 are handed out and never acked: they come back redelivered.
      const c = await conn.createChannel();
      await c.prefetch(50);
      await consume(c, 'pq', 50, false);
      // Their DELIVERED marks are written asynchronously; one more confirmed publish comes after them in
      // the log, so once it is confirmed they are on disk too.
      await publish(ch, 'pq', n, n + 1);
    });
    await b.kill();

    b = await broker(dir);
    expect(b.recovery).toMatchObject({ messages: n + 1 });
    const s = await b.stats();
    expect(s.alarms.memory.messageBytes).toBeLessThan(WINDOW + 1000 * BODY + 64 * 1024);
    await withConnection(b.url, async (conn) => {
      const c = await conn.createChannel();
      await c.prefetch(200);
      const got = await consume(c, 'pq', n + 1, true);
      expect(indexes(got)).toEqual(range(0, n + 1));
      expect(got.filter((m) => m.fields.redelivered).map((m) => m.content.readUInt32BE(0))).toEqual(
        range(0, 50),
      );
      await c.close();
    });
    await b.stop();

    b = await broker(dir);
    expect(b.recovery).toMatchObject({ messages: 0 });
  });

  it('publishes while draining: messages arriving behind paged ones keep their place', async () => {
    const b = await broker(persistDir());
    await withConnection(b.url, async (conn) => {
      const ch = await conn.createConfirmChannel();
      await ch.assertQueue('pq', { durable: true });
      await publish(ch, 'pq', 0, 5000);
      const c = await conn.createChannel();
      await c.prefetch(100);
      const consumed = consume(c, 'pq', 10_000, true);
      await publish(ch, 'pq', 5000, 10_000);
      expect(indexes(await consumed)).toEqual(range(0, 10_000));
    });
  });

  it('a deleted or purged paged queue leaves nothing behind after a restart', async () => {
    const dir = persistDir();
    let b = await broker(dir);
    await withConnection(b.url, async (conn) => {
      const ch = await conn.createConfirmChannel();
      await ch.assertQueue('gone', { durable: true });
      await ch.assertQueue('emptied', { durable: true });
      await publish(ch, 'gone', 0, 5000);
      await publish(ch, 'emptied', 0, 5000);
      await ch.deleteQueue('gone');
      expect((await ch.purgeQueue('emptied')).messageCount).toBe(5000);
      const s = await b.stats();
      expect(s.alarms.memory.messageBytes).toBe(0);
    });
    await b.stop();
    b = await broker(dir);
    expect(b.recovery).toMatchObject({ queues: 1, messages: 0 });
  });
});
