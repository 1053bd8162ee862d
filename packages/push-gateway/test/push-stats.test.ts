import { Redis } from 'ioredis';
import { beforeEach, describe, expect, it } from 'vitest';
import { PushChannels, publishPushEvent } from '../src/events/push-events.js';
import { PushStats } from '../src/stats/push-stats.js';
import { redisForFile } from './helpers/file-redis.js';

let redis: Redis;
let redisUrl: string;
redisForFile((client, url) => {
  redis = client;
  redisUrl = url;
});
beforeEach(async () => {
  await redis.flushall();
});

/** A clock the test moves; starts on a 10-minute boundary so bucket edges are predictable. */
function clock(startS = 1_800_000_000) {
  let ms = startS * 1000;
  return {
    now: () => ms,
    advance(seconds: number) {
      ms += seconds * 1000;
    },
  };
}

describe('PushStats (redis-server)', () => {
  it('two instances count into the same windows', async () => {
    const c = clock();
    const a = new PushStats({ redis, keyPrefix: 'st', now: c.now });
    const b = new PushStats({ redis, keyPrefix: 'st', now: c.now });
    a.record({ topic: 'order.paid', subscriptionId: 1, ok: true, count: 3 });
    b.record({ topic: 'order.paid', subscriptionId: 1, ok: false });
    b.record({ topic: 'order.paid', subscriptionId: 2, ok: true });
    await Promise.all([a.flush(), b.flush()]);
    c.advance(1);
    const sub1 = await a.subscription(1);
    expect(sub1['1s']).toEqual({ sent: 3, failed: 1 });
    expect(sub1['1d']).toEqual({ sent: 3, failed: 1 });
    const topic = await b.topic('order.paid');
    expect(topic['1m']).toEqual({ sent: 4, failed: 1 });
    expect((await a.all()).map((s) => [s.topic, s.subscriptionId])).toEqual([
      ['order.paid', 1],
      ['order.paid', 2],
    ]);
    await Promise.all([a.close(), b.close()]);
  });

  it('counts leave each window when it has passed', async () => {
    const c = clock();
    const s = new PushStats({ redis, keyPrefix: 'st', now: c.now });
    s.record({ topic: 't', subscriptionId: 7, ok: true, count: 10 });
    await s.flush();
    c.advance(1);
    expect((await s.subscription(7))['1s'].sent).toBe(10);
    c.advance(1);
    const after2 = await s.subscription(7);
    expect(after2['1s'].sent).toBe(0);
    expect(after2['10s'].sent).toBe(10);
    c.advance(10);
    const after12 = await s.subscription(7);
    expect(after12['10s'].sent).toBe(0);
    expect(after12['1m'].sent).toBe(10);
    c.advance(60);
    const after72 = await s.subscription(7);
    expect(after72['1m'].sent).toBe(0);
    expect(after72['1h'].sent).toBe(10);
    c.advance(3_600);
    const afterHour = await s.subscription(7);
    expect(afterHour['1h'].sent).toBe(0);
    expect(afterHour['1d'].sent).toBe(10);
    c.advance(86_400);
    expect((await s.subscription(7))['1d'].sent).toBe(0);
    await s.close();
  });

  it('keeps every hash bounded and gives keys a TTL while writing every second for 5 minutes', async () => {
    const c = clock();
    const s = new PushStats({ redis, keyPrefix: 'st', now: c.now });
    for (let i = 0; i < 300; i += 1) {
      s.record({ topic: 't', subscriptionId: 9, ok: i % 3 !== 0 });
      await s.flush();
      c.advance(1);
    }
    const keys = await redis.keys('st:*');
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(await redis.pttl(key)).toBeGreaterThan(0);
      if (key.startsWith('st:s:')) expect(await redis.hlen(key)).toBeLessThanOrEqual(64 + 5);
    }
    const w = await s.subscription(9);
    expect(w['1m']).toEqual({ sent: 40, failed: 20 });
    expect(w['1d']).toEqual({ sent: 200, failed: 100 });
    await s.close();
  });

  it('keeps the counts when Redis fails and writes them on the next flush', async () => {
    const c = clock();
    const broken = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0 });
    const s = new PushStats({ redis: broken, keyPrefix: 'st', now: c.now });
    s.record({ topic: 't', subscriptionId: 3, ok: true, count: 2 });
    broken.disconnect();
    await expect(s.flush()).rejects.toBeDefined();
    await broken.connect();
    await s.flush();
    c.advance(1);
    expect((await s.subscription(3))['1s'].sent).toBe(2);
    await s.close();
    broken.disconnect();
  });

  it('counts the gateway push events once started, and flushes them on close', async () => {
    const c = clock();
    const s = new PushStats({ redis, keyPrefix: 'ev', now: c.now, flushIntervalMs: 60_000 });
    s.start();
    const base = {
      topic: 'order.paid',
      subscriptionId: 4,
      originJobId: 1,
      pushJobId: '1-1-4',
      at: 0,
      url: 'http://x',
    };
    publishPushEvent(PushChannels.sent, { ...base, retryTimes: 0, status: 200, durationMs: 1 });
    publishPushEvent(PushChannels.sent, { ...base, retryTimes: 0, status: 200, durationMs: 1 });
    publishPushEvent(PushChannels.failed, {
      ...base,
      retryTimes: 1,
      status: 503,
      code: 'X',
      durationMs: 1,
      willRetry: true,
    });
    await s.close();
    publishPushEvent(PushChannels.sent, { ...base, retryTimes: 0, status: 200, durationMs: 1 });
    c.advance(1);
    const reader = new PushStats({ redis, keyPrefix: 'ev', now: c.now });
    expect((await reader.topic('order.paid'))['1s']).toEqual({ sent: 2, failed: 1 });
  });
});
