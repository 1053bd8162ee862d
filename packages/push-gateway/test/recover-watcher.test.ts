import { getFreePort, startBeanstalkd, startRedis } from '@dispatcher/tooling';
import { encode } from '@msgpack/msgpack';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { BeanstalkPool } from '../src/beanstalk/beanstalk-pool.js';
import { decodeJob, encodeJob, wrapRecoverValue } from '../src/job/job-codec.js';
import { DEFAULT_RECOVER_LIST_PREFIX, RecoverWatcher } from '../src/redistribute/recover-watcher.js';
import { waitFor } from './helpers/wait-for.js';

describe('RecoverWatcher', () => {
  it('waits for a dead beanstalkd without losing values, then feeds them into the main tube', async () => {
    const redisService = await startRedis();
    const redis = new Redis(redisService.url);
    const port = await getFreePort('127.0.0.1');
    const pool = new BeanstalkPool({
      addresses: [`127.0.0.1:${port}`],
      client: { commandTimeoutMs: 500, reconnectMinDelayMs: 50 },
    });
    const list = `${DEFAULT_RECOVER_LIST_PREFIX}web1`;
    // PHP producers: the msgpack job inside a msgpack str (raw bytes kept).
    const php = Buffer.from(encode({ msgKey: 'recover.me', body: { n: 1 }, time: 1 }));
    const phpValue = Buffer.concat([Buffer.from([0xd9, php.length]), php]);
    // Go's push-back: the job inside a msgpack bin.
    const goValue = Buffer.from(
      wrapRecoverValue(
        encodeJob({
          msgKey: 'recover.me',
          body: { n: 2 },
          sender: '',
          time: 2,
          originJobId: 0,
          retryTimes: 0,
          logId: 0,
          delay: 0,
          priority: 5,
          context: '',
          owlContext: '',
        }),
      ),
    );
    // Popped from the right: the garbage first (dropped, logged), then the PHP value, then the Go one.
    await redis.lpush(list, Buffer.from([0x01, 0x02]), phpValue, goValue);
    const watcher = new RecoverWatcher({ pool, redis, idleMs: 100, maxBackoffMs: 400 });
    let beanstalkd: Awaited<ReturnType<typeof startBeanstalkd>> | undefined;
    try {
      watcher.start();
      // The garbage value is dropped (logged); the two good ones wait in Redis while beanstalkd is down.
      await waitFor(
        'good values waiting',
        async () => (await redis.llen(list)) + (await redis.llen(`${list}:inflight`)) === 2,
      );
      await waitFor('several back-offs', () => watcher.backoffs >= 3);
      expect((await redis.llen(list)) + (await redis.llen(`${list}:inflight`))).toBe(2);
      expect(watcher.recovered).toBe(0);
      beanstalkd = await startBeanstalkd({ port });
      await waitFor('recovered', () => watcher.recovered === 2, 30_000);
      expect(await redis.llen(list)).toBe(0);
      expect(await redis.llen(`${list}:inflight`)).toBe(0);
      const bodies: unknown[] = [];
      const reader = pool.createReserveClient(`127.0.0.1:${port}`);
      await reader.watch('main-incoming-queue');
      for (let i = 0; i < 2; i++) {
        const job = await reader.reserve(5);
        if (job) {
          bodies.push(decodeJob(job.payload).body);
          await reader.delete(job.id);
        }
      }
      expect(bodies).toEqual(expect.arrayContaining([{ n: 1 }, { n: 2 }]));
    } finally {
      await watcher.close();
      await pool.close();
      redis.disconnect();
      await redisService.stop();
      await beanstalkd?.stop();
    }
  });
});
