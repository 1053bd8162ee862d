/**
 * pnpm --filter @dispatcher/push-gateway bench
 *
 * Main tube → subscribers through the real gateway (Redistributor + PushService) on two private beanstalkd
 * servers and a private redis-server. The sink and the producer are separate processes. Scenarios: 1 and 10
 * subscriptions per topic, and 10 where one subscriber hangs (its pushes time out) beside nine fast ones.
 * Prints pushes/s, latency percentiles (put → sink), RSS, and the fast subscribers' rate with and without the
 * hanging one.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startBeanstalkd, startRedis } from '@dispatcher/tooling';
import { Redis } from 'ioredis';
import { BeanstalkPool } from '../src/beanstalk/beanstalk-pool.js';
import { PushService } from '../src/push/push-service.js';
import { UndiciPushTransport } from '../src/push/push-transport.js';
import { Redistributor } from '../src/redistribute/redistributor.js';
import { RedisSubscriptionSource } from '../src/subscriptions/redis-subscription-source.js';

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const beanstalkds = await Promise.all([startBeanstalkd(), startBeanstalkd()]);
const redisService = await startRedis();
const addresses = beanstalkds.map((b) => `127.0.0.1:${b.port}`);
const tsx = ['--import', 'tsx'];

const sink = fork(fileURLToPath(new URL('./sink.ts', import.meta.url)), [], { execArgv: tsx });
const sinkPort = await new Promise<number>((r) => sink.once('message', (m: { port: number }) => r(m.port)));
function ask<T>(child: ChildProcess, cmd: string): Promise<T> {
  return new Promise((r) => {
    child.once('message', (m) => r(m as T));
    child.send({ cmd });
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

interface Result {
  name: string;
  pushes: number;
  seconds: number;
  rate: number;
  fastRatePerSub: number;
  p50: number;
  p95: number;
  p99: number;
  rssMb: number;
}

async function scenario(name: string, subs: number, messages: number, hang: boolean): Promise<Result> {
  const redis = new Redis(redisService.url);
  await redis.flushdb();
  const topic = `bench-${name.replace(/\W+/g, '-')}`;
  const source = new RedisSubscriptionSource({ redis, pollIntervalMs: 500 });
  for (let i = 0; i < subs; i++) {
    const slow = hang && i === 0;
    await source.create({
      topic,
      subscriberId: i + 1,
      receptionChannel: `http://127.0.0.1:${sinkPort}/${slow ? 'hang' : 'fast'}/${i}`,
      params: { concurrency: CONCURRENCY, timeoutMs: slow ? 60_000 : 5_000 },
    });
  }
  await ask(sink, 'reset');
  // Preload the main tube from the producer process, then start the gateway and time the drain.
  const producer = fork(
    fileURLToPath(new URL('./produce.ts', import.meta.url)),
    [addresses.join(','), topic, String(messages)],
    { execArgv: tsx },
  );
  await new Promise((r) => producer.once('exit', r));

  const pool = new BeanstalkPool({ addresses });
  await pool.connect();
  const transport = new UndiciPushTransport();
  const push = new PushService({ pool, source, transport, redis, enableSentLog: false, drainTimeoutMs: 100 });
  const redistributor = new Redistributor({ pool, source, redis, listenersPerServer: 4 });
  const started = performance.now();
  await push.start();
  redistributor.start();
  const fastSubs = hang ? subs - 1 : subs;
  const expected = messages * fastSubs;
  let rssPeak = 0;
  let stats: { counts: Record<string, number>; latencies: number[] };
  for (;;) {
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    stats = await ask(sink, 'stats');
    const fast = Object.entries(stats.counts)
      .filter(([p]) => p.startsWith('/fast/'))
      .reduce((n, [, c]) => n + c, 0);
    if (fast >= expected) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const seconds = (performance.now() - started) / 1000;
  await redistributor.close();
  await push.close();
  await transport.close();
  await source.close();
  await pool.close();
  // Leave the hanging subscription's jobs out of the next scenario.
  for (const b of beanstalkds) {
    const c = new (await import('../src/beanstalk/beanstalk-client.js')).BeanstalkClient({ port: b.port });
    for (const tube of await c.listTubes()) {
      if (tube === 'default') continue;
      for (;;) {
        const job = await c.peekReady({ tube });
        if (!job) break;
        await c.delete(job.id);
      }
    }
    await c.close();
  }
  redis.disconnect();
  const sorted = [...stats.latencies].sort((a, b) => a - b);
  return {
    name,
    pushes: expected,
    seconds,
    rate: expected / seconds,
    fastRatePerSub: messages / seconds,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    rssMb: rssPeak / 1024 / 1024,
  };
}

const MESSAGES_ONE = Number(process.env.BENCH_MESSAGES_ONE ?? 10_000);
const MESSAGES_TEN = Number(process.env.BENCH_MESSAGES_TEN ?? 2_000);
process.stdout.write(
  `push-gateway bench: 2 beanstalkd, redis-server, sink and producer in their own processes, ${CONCURRENCY} senders per subscription per server\n`,
);
const results = [
  await scenario('1 subscription', 1, MESSAGES_ONE, false),
  await scenario('10 subscriptions', 10, MESSAGES_TEN, false),
  await scenario('10 subscriptions, 1 hanging', 10, MESSAGES_TEN, true),
];
for (const r of results)
  process.stdout.write(
    `${r.name.padEnd(30)} ${String(r.pushes).padStart(6)} pushes in ${r.seconds.toFixed(2)} s = ${r.rate.toFixed(0).padStart(6)} pushes/s; latency p50 ${r.p50} ms p95 ${r.p95} ms p99 ${r.p99} ms; RSS peak ${r.rssMb.toFixed(0)} MB\n`,
  );
const [, ten, hanging] = results as [Result, Result, Result];
process.stdout.write(
  `fast subscribers with one hanging beside them: ${hanging.fastRatePerSub.toFixed(0)} vs ${ten.fastRatePerSub.toFixed(0)} msgs/s per subscriber = ${(hanging.fastRatePerSub / ten.fastRatePerSub).toFixed(2)}x\n`,
);
sink.send({ cmd: 'exit' });
await redisService.stop();
await Promise.all(beanstalkds.map((b) => b.stop()));
process.exit(0);
