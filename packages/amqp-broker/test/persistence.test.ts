import { mkdtempSync, readdirSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Channel } from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { closedWith, drain, withConnection } from './helpers/amqp-helpers.js';
import { type BrokerChild, startBrokerChild } from './helpers/broker-child.js';

const dirs: string[] = [];
const children: BrokerChild[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) await c.kill();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function broker(persistDir: string): Promise<BrokerChild> {
  const b = await startBrokerChild({ persistDir });
  children.push(b);
  return b;
}

function persistDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'dsp-persist-'));
  dirs.push(d);
  return d;
}

const persistent = { persistent: true } as const;

/** Whether passive declares find it (404 closes the channel, so each check gets its own). */
async function exists(url: string, kind: 'queue' | 'exchange', name: string): Promise<boolean> {
  return withConnection(url, async (conn) => {
    const ch = await conn.createChannel();
    const closed = closedWith(ch);
    try {
      if (kind === 'queue') await ch.checkQueue(name);
      else await ch.checkExchange(name);
      await ch.close();
      return true;
    } catch {
      expect(await closed).toBe(404);
      return false;
    }
  });
}

async function publishConfirmed(
  ch: Channel,
  exchange: string,
  key: string,
  bodies: string[],
  opts = persistent,
) {
  for (const b of bodies) ch.publish(exchange, key, Buffer.from(b), opts);
  await (ch as unknown as { waitForConfirms(): Promise<void> }).waitForConfirms();
}

describe('persistence across restarts (persistDir)', () => {
  it('keeps durable entities and persistent messages, in order; forgets transient ones', async () => {
    const dir = persistDir();
    let b = await broker(dir);
    await withConnection(b.url, async (conn) => {
      const ch = await conn.createConfirmChannel();
      await ch.assertExchange('dx', 'topic', { durable: true });
      await ch.assertExchange('tx', 'fanout', { durable: false });
      await ch.assertQueue('dq', { durable: true, arguments: { 'x-max-priority': 5 } });
      await ch.assertQueue('tq', { durable: false });
      await ch.assertQueue('xq', { durable: true, exclusive: true });
      await ch.bindQueue('dq', 'dx', 'a.#');
      await ch.bindQueue('tq', 'dx', 'a.#');
      await ch.bindExchange('tx', 'dx', '#');
      await publishConfirmed(ch, 'dx', 'a.1', ['one', 'two']);
      await publishConfirmed(ch, 'dx', 'a.2', ['transient'], { persistent: false } as never);
      await publishConfirmed(ch, '', 'dq', ['three']);
      await publishConfirmed(ch, '', 'dq', ['urgent'], { persistent: true, priority: 5 } as never);
    });
    await b.stop();

    b = await broker(dir);
    expect(b.recovery).toMatchObject({ queues: 1, exchanges: 1, bindings: 1, messages: 4 });
    expect(await exists(b.url, 'exchange', 'dx')).toBe(true);
    expect(await exists(b.url, 'queue', 'dq')).toBe(true);
    expect(await exists(b.url, 'exchange', 'tx')).toBe(false);
    expect(await exists(b.url, 'queue', 'tq')).toBe(false);
    expect(await exists(b.url, 'queue', 'xq')).toBe(false);
    await withConnection(b.url, async (conn) => {
      const ch = await conn.createConfirmChannel();
      // The binding dq <- dx survived: a new persistent message still reaches dq.
      await publishConfirmed(ch, 'dx', 'a.3', ['four']);
      const got = await drain(ch, 'dq');
      expect(got.map((m) => m.content.toString())).toEqual(['urgent', 'one', 'two', 'three', 'four']);
      expect(got.map((m) => m.fields.redelivered)).toEqual([false, false, false, false, false]);
      expect(got[0]?.properties.priority).toBe(5);
      expect(got[1]?.properties.deliveryMode).toBe(2);
    });
    await b.stop();
    // What was taken is gone for good.
    b = await broker(dir);
    expect(b.recovery).toMatchObject({ messages: 0 });
  });

  it('brings back delivered but unacknowledged messages as redelivered, the others not', async () => {
    const dir = persistDir();
    let b = await broker(dir);
    await withConnection(b.url, async (conn) => {
      const ch = await conn.createConfirmChannel();
      await ch.assertQueue('q', { durable: true });
      await publishConfirmed(ch, '', 'q', ['a', 'b', 'c']);
      const first = await ch.get('q', { noAck: false });
      expect(first && first.content.toString()).toBe('a');
      const second = await ch.get('q', { noAck: false });
      if (second) ch.ack(second);
      await ch.close();
      // The ack of 'b' must reach the broker before it stops.
    });
    await b.stop();
    b = await broker(dir);
    await withConnection(b.url, async (conn) => {
      const ch = await conn.createChannel();
      const got = await drain(ch, 'q');
      expect(got.map((m) => [m.content.toString(), m.fields.redelivered])).toEqual([
        ['a', true],
        ['c', false],
      ]);
    });
  });

  it('counts TTLs from the original publish: a message that expired while down is dead-lettered', async () => {
    const dir = persistDir();
    let b = await broker(dir);
    const ttlMs = 300;
    let publishedAt = 0;
    await withConnection(b.url, async (conn) => {
      const ch = await conn.createConfirmChannel();
      await ch.assertExchange('dlx', 'fanout', { durable: true });
      await ch.assertQueue('dead', { durable: true });
      await ch.bindQueue('dead', 'dlx', '');
      await ch.assertQueue('ttl', {
        durable: true,
        arguments: { 'x-message-ttl': ttlMs, 'x-dead-letter-exchange': 'dlx' },
      });
      publishedAt = Date.now();
      await publishConfirmed(ch, '', 'ttl', ['late']);
    });
    await b.kill();
    // Down for longer than the TTL.
    while (Date.now() < publishedAt + ttlMs + 50) await new Promise((r) => setTimeout(r, 20));
    b = await broker(dir);
    await withConnection(b.url, async (conn) => {
      const ch = await conn.createChannel();
      expect(await drain(ch, 'ttl')).toEqual([]);
      // Dead-lettered during recovery; looked at without taking it (it must survive the next restart).
      let count = 0;
      for (let i = 0; i < 100 && count === 0; i++) {
        count = (await ch.checkQueue('dead')).messageCount;
        if (count === 0) await new Promise((r) => setTimeout(r, 20));
      }
      expect(count).toBe(1);
    });
    // The dead-lettered copy is persistent too: it survives one more restart, x-death and all.
    await b.kill();
    b = await broker(dir);
    await withConnection(b.url, async (conn) => {
      const ch = await conn.createChannel();
      const dead = await drain(ch, 'dead');
      expect(dead.map((m) => m.content.toString())).toEqual(['late']);
      const deaths = dead[0]?.properties.headers?.['x-death'] as unknown as
        | Array<Record<string, unknown>>
        | undefined;
      expect(deaths?.[0]).toMatchObject({ queue: 'ttl', reason: 'expired' });
    });
  });

  it('starts from a cut segment: keeps every intact message and drops only the torn one', async () => {
    const dir = persistDir();
    let b = await broker(dir);
    await withConnection(b.url, async (conn) => {
      const ch = await conn.createConfirmChannel();
      await ch.assertQueue('q', { durable: true });
      await publishConfirmed(
        ch,
        '',
        'q',
        Array.from({ length: 20 }, (_, i) => `message ${i}`.padEnd(200, '.')),
      );
    });
    await b.stop();
    // A crash in the middle of the last write: its tail never reached the disk.
    const segDir = join(dir, 'messages');
    const seg = readdirSync(segDir)
      .filter((f) => f.endsWith('.seg'))
      .sort()
      .at(-1) as string;
    const size = statSync(join(segDir, seg)).size;
    truncateSync(join(segDir, seg), size - 100);
    b = await broker(dir);
    expect(b.recovery).toMatchObject({ messages: 19 });
    await withConnection(b.url, async (conn) => {
      const ch = await conn.createChannel();
      const got = await drain(ch, 'q');
      expect(got.map((m) => m.content.toString().replace(/\.+$/, ''))).toEqual(
        Array.from({ length: 19 }, (_, i) => `message ${i}`),
      );
    });
  });

  it('refuses a second broker on the same directory with a clear error', async () => {
    const dir = persistDir();
    await broker(dir);
    await expect(startBrokerChild({ persistDir: dir })).rejects.toMatchObject({
      code: 'DSP_CORE_LOG_LOCKED',
    });
  });
});
