/**
 * The outside check of the durability issue, bounded: one publisher sends 4 KiB messages to a queue
 * without consumers. Before the memory alarm watched the process, the broker grew linearly (78 MiB to
 * 3.9 GiB in 30 s) without connection.blocked; and the memory stayed after the queue was deleted. Our
 * broker runs in a child process here, so its RSS (read from /proc by this process) is its own.
 *
 * - With a watermark of a few hundred MB the publisher is blocked near it, RSS stays under it plus a
 *   margin, and every message the broker confirmed is in the queue. Deleting the queue lets the memory go
 *   (a full collection) and clears the alarm although glibc keeps the freed pages in RSS; the publisher
 *   is unblocked and its pending publishes are confirmed.
 * - Without any alarm involved, deleting a large queue releases its message bodies even when the broker
 *   goes quiet afterwards: counted as the child's ArrayBuffer bytes (what V8 holds for Buffers), not RSS.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { type ForkedChild, forkChild } from '@dispatcher/tooling/child-harness';
import amqp from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import type { BrokerServerOptions, ResourceAlarmStatus } from '../src/index.js';
import { sleep, waitFor } from './helpers/amqp-helpers.js';
import { BROKER_PROCESS_SCRIPT } from './helpers/broker-child.js';
import { uniqueName } from './helpers/targets.js';

const MiB = 1024 * 1024;
const WATERMARK = 256 * MiB;
/** RSS may pass the watermark by the messages read between two checks and allocator overhead. */
const MARGIN = 64 * MiB;
const BODY = Buffer.alloc(4096, 7);

interface ChildStats {
  readonly memory: NodeJS.MemoryUsage;
  readonly alarms: ResourceAlarmStatus;
}

interface Broker {
  readonly forked: ForkedChild<{ port: number }>;
  readonly url: string;
  stats(): Promise<ChildStats>;
  /** The child's resident set size from /proc, in bytes. */
  rss(): number;
}

async function startChildBroker(options: BrokerServerOptions): Promise<Broker> {
  const forked = await forkChild<{ port: number }>(BROKER_PROCESS_SCRIPT, {
    env: { ...process.env, BROKER_OPTIONS: JSON.stringify(options) },
  });
  const { child } = forked;
  return {
    forked,
    url: `amqp://guest:guest@127.0.0.1:${forked.ready.port}`,
    stats: async () => (await forked.request<{ stats: ChildStats }>('stats', 'stats')).stats,
    rss() {
      const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
      return Number(kb) * 1024;
    },
  };
}

async function waitForStats(
  broker: Broker,
  ok: (s: ChildStats) => boolean,
  what: string,
): Promise<ChildStats> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const s = await broker.stats();
    if (ok(s)) return s;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(s)}`);
    await sleep(100);
  }
}

describe('the memory alarm on the process memory (child process)', () => {
  let broker: Broker | undefined;
  afterEach(async () => {
    const forked = broker?.forked;
    broker = undefined;
    await forked?.stop(5000);
  });

  // The process-memory watermark alone (the message-byte one off), then the defaults: the outside check's
  // run must stay under 1 GB whatever the machine's memory (the default message-byte watermark blocks).
  it.each([
    {
      name: 'a process-memory watermark',
      options: {
        memoryHighWatermark: { bytes: WATERMARK },
        memoryHighWaterBytes: 0,
        memoryCheckIntervalMs: 200,
      },
      maxRssBytes: WATERMARK + MARGIN,
    },
    { name: 'the default settings', options: {}, maxRssBytes: 1000 * MiB },
  ])(
    'a 4 KiB flood to a queue without consumers is blocked with $name; nothing confirmed is lost; deleting the queue unblocks',
    { timeout: 240_000 },
    async ({ options, maxRssBytes }) => {
      broker = await startChildBroker(options as BrokerServerOptions);
      const b = broker;
      const before = await b.stats();
      expect(before.memory.rss).toBeLessThan(WATERMARK / 2);
      const publisher = await amqp.connect(b.url);
      const observer = await amqp.connect(b.url);
      try {
        const events: string[] = [];
        publisher.on('blocked', (reason: string) => events.push(`blocked: ${reason}`));
        publisher.on('unblocked', () => events.push('unblocked'));
        const och = await observer.createChannel();
        const { queue } = await och.assertQueue(uniqueName('flood'), { autoDelete: false });
        const pch = await publisher.createConfirmChannel();
        let sent = 0;
        let confirmed = 0;
        let nacked = 0;
        const onConfirm = (err: unknown): void => {
          if (err === null || err === undefined) confirmed++;
          else nacked++;
        };
        let maxRss = 0;
        const sampler = setInterval(() => {
          maxRss = Math.max(maxRss, b.rss());
        }, 20);
        // Publishing as fast as amqplib lets us, until 1.5 s after the block (the broker must not read on
        // meanwhile), or until twice the watermark was sent without a block (counted in bytes, not time: a
        // busy machine only makes it slower), or 200 s. A blocked broker stops reading, so the client's
        // buffers fill and it waits for 'drain'.
        let stopped = false;
        const stop = Promise.race([once(publisher, 'blocked').then(() => sleep(1_500)), sleep(200_000)]).then(
          () => {
            stopped = true;
          },
        );
        while (!stopped && sent * BODY.length <= 2 * WATERMARK) {
          if (!pch.sendToQueue(queue, BODY, {}, onConfirm)) await Promise.race([once(pch, 'drain'), stop]);
          sent++;
        }
        clearInterval(sampler);
        maxRss = Math.max(maxRss, b.rss());

        // Blocked first; on a loaded machine a collection may drop memory under the watermark meanwhile, so
        // an unblock/block cycle is allowed (the alarm's hysteresis), but the two must alternate.
        expect(events[0]).toBe('blocked: low on memory');
        for (const [i, e] of events.entries())
          expect(e).toBe(i % 2 === 0 ? 'blocked: low on memory' : 'unblocked');
        expect(maxRss).toBeLessThan(maxRssBytes);
        // The queue holds at least every confirmed message (nacks: none, nothing was refused).
        const { messageCount } = await och.checkQueue(queue);
        expect(nacked).toBe(0);
        expect(messageCount).toBeGreaterThanOrEqual(confirmed);
        expect(messageCount).toBeLessThanOrEqual(sent);
        // Enough to matter: the bodies alone are a good part of the watermark.
        expect(messageCount * BODY.length).toBeGreaterThan(WATERMARK / 4);

        // Deleting the queue releases the bodies; the alarm clears although RSS stays up (glibc keeps the
        // pages); the publisher is unblocked and everything it sent is confirmed.
        await och.deleteQueue(queue);
        await waitFor(() => events.length % 2 === 0, 'connection.unblocked', 15_000);
        expect(events.at(-1)).toBe('unblocked');
        await pch.waitForConfirms();
        expect(confirmed + nacked).toBe(sent);
        const after = await waitForStats(b, (s) => s.memory.arrayBuffers < 32 * MiB, 'bodies released');
        expect(after.alarms.memory).toMatchObject({ alarmed: false, messageBytes: 0 });
        expect(after.alarms.blockedConnections).toBe(0);
      } finally {
        await publisher.close().catch(() => undefined);
        await observer.close().catch(() => undefined);
      }
    },
  );

  it('deleting a large queue releases its message bodies although the broker then goes quiet', async () => {
    broker = await startChildBroker({});
    const conn = await amqp.connect(broker.url);
    try {
      const ch = await conn.createConfirmChannel();
      const { queue } = await ch.assertQueue(uniqueName('release'), { autoDelete: false });
      const count = 20_000; // 80 MiB of bodies
      for (let i = 0; i < count; i++) {
        if (!ch.sendToQueue(queue, BODY)) await once(ch, 'drain');
      }
      await ch.waitForConfirms();
      const full = await broker.stats();
      expect(full.alarms.memory.messageBytes).toBe(count * BODY.length);
      expect(full.memory.arrayBuffers).toBeGreaterThan(count * BODY.length);
      await ch.deleteQueue(queue);
      // Nothing else happens on the broker now; the bodies must still be let go.
      const after = await waitForStats(broker, (s) => s.memory.arrayBuffers < 16 * MiB, 'bodies released');
      expect(after.alarms.memory.messageBytes).toBe(0);
    } finally {
      await conn.close().catch(() => undefined);
    }
  });
});
