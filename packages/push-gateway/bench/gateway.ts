// The bench's gateway, in its own process, wired as apps/medispatcher wires it in Redis mode: redistribution,
// pushes, the recover-list watcher, statistics in Redis, Prometheus metrics, and a SENT DATA record per push
// written synchronously as a JSON line to a file (as the app's pino destination does, so records survive a
// crash), so the figures include the gateway's normal work.
// Reports its peak RSS and CPU time to the parent over IPC.
import { openSync, writeSync } from 'node:fs';
import { type LogFn, type Logger, noopLogger } from '@dispatcher/core';
import { Redis } from 'ioredis';
import { BeanstalkPool } from '../src/beanstalk/beanstalk-pool.js';
import { PushService } from '../src/push/push-service.js';
import { UndiciPushTransport } from '../src/push/push-transport.js';
import { RecoverWatcher } from '../src/redistribute/recover-watcher.js';
import { Redistributor } from '../src/redistribute/redistributor.js';
import { beanstalkTubeStats, PushMetrics } from '../src/stats/push-metrics.js';
import { PushStats } from '../src/stats/push-stats.js';
import { RedisSubscriptionSource } from '../src/subscriptions/redis-subscription-source.js';

const addresses = (process.env.BENCH_BEANSTALKD ?? '').split(',');
const listeners = Number(process.env.BENCH_LISTENERS ?? 4);
const dataFile = process.env.BENCH_DATA_LOG ?? '/dev/null';

/** One JSON line per record, written synchronously as the app's pino destination for DATA does. */
function jsonLinesLogger(path: string): Logger {
  const fd = openSync(path, 'a');
  const make = (bindings: Record<string, unknown>): Logger => {
    const at =
      (level: number): LogFn =>
      (obj: object | string, msg?: unknown): void => {
        const fields = typeof obj === 'string' ? { msg: obj } : { ...obj, msg };
        writeSync(fd, `${JSON.stringify({ level, time: Date.now(), ...bindings, ...fields })}\n`);
      };
    return {
      trace: at(10),
      debug: at(20),
      info: at(30),
      warn: at(40),
      error: at(50),
      fatal: at(60),
      child: (more) => make({ ...bindings, ...more }),
    };
  };
  return make({});
}

const redis = new Redis(process.env.BENCH_REDIS ?? '');
const pool = new BeanstalkPool({ addresses });
await pool.connect();
const source = new RedisSubscriptionSource({ redis });
const transport = new UndiciPushTransport();
const dataLog = jsonLinesLogger(dataFile);
const push = new PushService({ pool, source, transport, redis, dataLog, logger: noopLogger });
const redistributor = new Redistributor({
  pool,
  source,
  redis,
  listenersPerServer: listeners,
  messagesPerListener: Number(process.env.BENCH_MESSAGES_PER_LISTENER ?? 8),
  dataLog,
});
const recover = new RecoverWatcher({ pool, redis, dataLog });
const stats = new PushStats({ redis, keyPrefix: 'medispatcher:stats' });
const metrics = new PushMetrics({ tubes: beanstalkTubeStats(() => pool.clients, 'main-incoming-queue') });
stats.start();
metrics.start();
await push.start();
redistributor.start();
recover.start();

let rssPeak = process.memoryUsage().rss;
setInterval(() => {
  rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
}, 100).unref();
const cpuStart = process.cpuUsage();

process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'stats') {
    const cpu = process.cpuUsage(cpuStart);
    process.send?.({ rssPeak, rss: process.memoryUsage().rss, cpuMs: (cpu.user + cpu.system) / 1000 });
  } else if (m.cmd === 'exit') {
    // A clean stop, so --cpu-prof writes its profile.
    void (async () => {
      await Promise.allSettled([redistributor.close(), recover.close()]);
      await push.close();
      await Promise.allSettled([stats.close(), metrics.close(), transport.close(), source.close()]);
      await pool.close();
      redis.disconnect();
      process.exit(0);
    })();
  }
});
process.send?.({ ready: true });
