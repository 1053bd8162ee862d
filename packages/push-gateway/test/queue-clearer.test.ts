import { describe, expect, it } from 'vitest';
import { QueueClearer } from '../src/control/queue-clearer.js';
import { channelTube, deadLetterTube, retryTube } from '../src/job/tube-names.js';
import { subscriptionFixture } from './helpers/subscription-fixture.js';
import { useTwoBeanstalkd } from './helpers/two-beanstalkd.js';

const servers = useTwoBeanstalkd();

const sub = subscriptionFixture(41, 'order.paid');
const other = subscriptionFixture(42, 'order.paid');
const unrelated = subscriptionFixture(43, 'user.created');
const subs = [sub, other, unrelated];

async function count(tube: string): Promise<number> {
  let n = 0;
  for (const f of ['current-jobs-ready', 'current-jobs-delayed', 'current-jobs-buried'] as const) {
    n += await servers.pool().tubeCount(tube, f);
  }
  return n;
}

describe('QueueClearer (two real beanstalkd servers)', () => {
  it('clears ready, delayed and buried jobs of a subscription on every server and ends while jobs keep arriving', async () => {
    const tube = channelTube(sub.topic, sub.id);
    for (let i = 0; i < 200; i++) await servers.pool().put(tube, Buffer.from(`r${i}`));
    for (let i = 0; i < 10; i++) await servers.pool().put(tube, Buffer.from(`d${i}`), { delaySec: 3600 });
    for (let i = 0; i < 10; i++) await servers.pool().put(retryTube(sub.topic, sub.id), Buffer.from(`f${i}`));
    await servers.pool().put(deadLetterTube(sub.topic, sub.id), Buffer.from('dead'));
    // Bury a few on server a.
    const reserver = servers.pool().createReserveClient(`127.0.0.1:${servers.a().port}`);
    await reserver.watch(tube);
    for (let i = 0; i < 5; i++) {
      const job = await reserver.reserve(5);
      if (job) await reserver.bury(job.id);
    }
    await servers.pool().release(reserver);
    expect(await count(tube)).toBe(210);

    const events: string[] = [];
    const clearer = new QueueClearer({
      clients: () => servers.pool().clients,
      subscriptions: {
        get: async (id) => subs.find((s) => s.id === id),
        listByTopic: async (t) => subs.filter((s) => s.topic === t),
      },
      pauser: {
        pause: async (id) => {
          events.push(`pause ${id}`);
        },
        resume: async (id) => {
          events.push(`resume ${id}`);
        },
      },
    });
    // A producer keeps filling the tube during the clear.
    let producing = true;
    let produced = 0;
    const producer = (async () => {
      while (producing) {
        await servers.pool().put(tube, Buffer.from('late'));
        produced += 1;
      }
    })();
    const report = await clearer.clearSubscription(sub.id);
    producing = false;
    await producer;
    // Everything there at the start is gone (late arrivals before the size was taken may be too); what is
    // left are late arrivals only, and nothing went missing in between.
    expect(report.deleted).toBeGreaterThanOrEqual(220);
    expect(events).toEqual(['pause 41', 'resume 41']);
    const left = await count(tube);
    expect(report.deleted + left).toBe(220 + produced);
    for (const port of [servers.a().port, servers.b().port]) {
      const r = servers.pool().createReserveClient(`127.0.0.1:${port}`);
      await r.watch(tube);
      for (;;) {
        const job = await r.reserve(0);
        if (!job) break;
        expect(job.payload.toString()).toBe('late');
        await r.delete(job.id);
      }
      await servers.pool().release(r);
    }
    expect(await count(retryTube(sub.topic, sub.id))).toBe(0);
    expect(await count(deadLetterTube(sub.topic, sub.id))).toBe(1);
  });

  it('clears every subscription of a topic, and only those; refuses a second clear of the same one meanwhile', async () => {
    for (const s of subs)
      for (let i = 0; i < 20; i++) await servers.pool().put(channelTube(s.topic, s.id), Buffer.from('x'));
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let paused!: () => void;
    const pausedOnce = new Promise<void>((r) => {
      paused = r;
    });
    const clearer = new QueueClearer({
      clients: () => servers.pool().clients,
      subscriptions: {
        get: async (id) => subs.find((s) => s.id === id),
        listByTopic: async (t) => subs.filter((s) => s.topic === t),
      },
      pauser: {
        pause: async () => {
          paused();
          await gate;
        },
        resume: async () => {},
      },
    });
    const running = clearer.clearTopic('order.paid');
    await pausedOnce;
    await expect(clearer.clearSubscription(other.id)).rejects.toMatchObject({ code: 'DSP_PUSH_CONFLICT' });
    release();
    const report = await running;
    expect(report.deleted).toBeGreaterThanOrEqual(40);
    expect(await count(channelTube(sub.topic, sub.id))).toBe(0);
    expect(await count(channelTube(other.topic, other.id))).toBe(0);
    expect(await count(channelTube(unrelated.topic, unrelated.id))).toBe(20);
    await expect(clearer.clearSubscription(999)).rejects.toMatchObject({ code: 'DSP_PUSH_NOT_FOUND' });
  });
});
