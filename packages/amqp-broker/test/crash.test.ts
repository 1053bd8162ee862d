import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { type BrokerChild, startBrokerChild } from './helpers/broker-child.js';

const KILLS = 10;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

describe('kill -9 under load (persistDir)', () => {
  // The default memory window, and one of 64 bytes: nearly every message is paged out and read back.
  it.each([
    { paging: 'the default window', options: {} },
    { paging: 'a 64-byte window', options: { queueMemoryWindowBytes: 64 } },
  ])(
    `delivers every confirmed message at least once across ${KILLS} kills with $paging`,
    async ({ options }) => {
      const dir = mkdtempSync(join(tmpdir(), 'dsp-broker-crash-'));
      dirs.push(dir);
      const confirmed = new Set<number>();
      const received = new Map<number, number>();
      let next = 0;
      let broker: BrokerChild | undefined;
      for (let round = 0; round <= KILLS; round++) {
        broker = await startBrokerChild({ persistDir: dir, ...options });
        const pub = await amqp.connect(broker.url);
        const sub = await amqp.connect(broker.url);
        for (const c of [pub, sub]) c.on('error', () => {});
        const ch = await pub.createConfirmChannel();
        ch.on('error', () => {});
        await ch.assertQueue('crash', { durable: true });
        const cc = await sub.createChannel();
        cc.on('error', () => {});
        await cc.prefetch(100);
        await cc.consume('crash', (m) => {
          if (m === null) return;
          const id = Number(m.content.toString());
          received.set(id, (received.get(id) ?? 0) + 1);
          cc.ack(m);
        });
        if (round === KILLS) {
          // Last start: no kill; everything confirmed must come out.
          const missing = () => [...confirmed].filter((id) => !received.has(id));
          await until(() => missing().length === 0, 20_000);
          await pub.close().catch(() => {});
          await sub.close().catch(() => {});
          await broker.stop();
          break;
        }
        // Publish with up to 200 unconfirmed until a few hundred more are confirmed, then kill mid-stream.
        const target = confirmed.size + 300 + Math.floor(Math.random() * 300);
        let inflight = 0;
        let stop = false;
        const pump = async () => {
          while (!stop) {
            if (inflight >= 200) {
              await new Promise((r) => setTimeout(r, 1));
              continue;
            }
            const id = next++;
            inflight++;
            try {
              ch.publish('', 'crash', Buffer.from(String(id)), { persistent: true }, (err) => {
                inflight--;
                if (err === null || err === undefined) confirmed.add(id);
              });
            } catch {
              return; // the channel is gone
            }
            if ((id & 31) === 0) await new Promise((r) => setImmediate(r));
          }
        };
        const pumping = pump();
        await until(() => confirmed.size >= target, 20_000);
        await broker.kill();
        stop = true;
        await pumping;
      }
      const lost = [...confirmed].filter((id) => !received.has(id));
      const duplicates = [...received.values()].filter((n) => n > 1).length;
      console.log(
        `[broker crash test] ${KILLS} kills: ${confirmed.size} confirmed, ${received.size} received, ` +
          `${lost.length} confirmed but lost, ${duplicates} delivered more than once`,
      );
      expect(confirmed.size).toBeGreaterThan(KILLS * 300);
      expect(lost).toEqual([]);
    },
    180_000,
  );
});
