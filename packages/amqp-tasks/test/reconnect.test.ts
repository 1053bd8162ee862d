import { connect } from 'amqplib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TasksError } from '../src/index.js';
import { brokerTargets } from './brokers.js';
import { sleep, TestBed, uniqueName, until } from './helpers/fixtures.js';
import { serverSideCloser } from './helpers/server-side-close.js';
import { TcpProxy } from './helpers/tcp-proxy.js';

describe.each(brokerTargets())('reconnection against $name', ({ name, url }) => {
  let bed: TestBed;
  let proxy: TcpProxy;
  beforeEach(async () => {
    bed = new TestBed(url);
    proxy = await TcpProxy.start(url);
  });
  afterEach(async () => {
    await bed.cleanup();
    await proxy.close();
  });

  it('loses nothing and never exceeds the limit when the connection is killed mid-task', async () => {
    const total = 40;
    const limit = 3;
    const done = new Set<number>();
    let running = 0;
    let maxRunning = 0;
    const { server, worker, queue } = await bed.serverWithWorker(
      {
        work: {
          fn: async (args) => {
            running++;
            maxRunning = Math.max(maxRunning, running);
            try {
              // Ignores its signal on purpose: laggards keep their slot across the reconnection.
              await sleep(60);
              done.add((args as number[])[0]!);
            } finally {
              running--;
            }
          },
        },
      },
      { limit },
      { url: proxy.urlFor(url), reconnect: { intervalMs: 50, maxIntervalMs: 200 } },
    );
    const events = { disconnected: 0, connected: 0, errors: 0, dropped: 0 };
    server.on('disconnected', () => events.disconnected++);
    server.on('connected', () => events.connected++);
    server.on('error', () => events.errors++);
    server.on('ack:dropped', () => events.dropped++);

    await Promise.all(
      Array.from({ length: total }, (_, i) => server.publish({ name: 'work', routingKey: queue, args: [i] })),
    );
    await until(() => worker.stats().started >= 6);
    const connectionsBefore = proxy.accepted;
    proxy.cut(); // the broker side goes away under running tasks
    // Publishing during the outage waits instead of failing.
    const late = server.publish({ name: 'work', routingKey: queue, args: [total] });
    await until(() => proxy.accepted > connectionsBefore, 10_000, 'reconnection');
    await late;
    await until(() => done.size === total + 1, 30_000, 'all tasks done');

    expect([...done].sort((a, b) => a - b)).toEqual(Array.from({ length: total + 1 }, (_, i) => i));
    expect(maxRunning).toBeLessThanOrEqual(limit);
    expect(worker.stats().maxRunning).toBeLessThanOrEqual(limit);
    expect(events.disconnected).toBe(1);
    expect(events.connected).toBeGreaterThanOrEqual(1);
    expect(events.errors).toBeGreaterThanOrEqual(1);
    // The laggards finished after their channel died: their acks were dropped, not sent on the new channel.
    expect(worker.stats().droppedAcks).toBeGreaterThanOrEqual(1);
    expect(events.dropped).toBe(worker.stats().droppedAcks);
    const channel = await bed.channel();
    await until(async () => (await channel.checkQueue(queue)).messageCount === 0, 15_000, 'an empty queue');
  });

  it('aborts running tasks with DSP_TASKS_CHANNEL_LOST when their channel dies, and they are redelivered', async () => {
    const reasons: unknown[] = [];
    const runs: Array<{ n: number; redelivered: boolean }> = [];
    const { worker, server, queue } = await bed.serverWithWorker(
      {
        wait: {
          fn: (args, ctx) => {
            runs.push({ n: (args as number[])[0]!, redelivered: ctx.redelivered });
            if (ctx.redelivered) return undefined;
            return new Promise((_resolve, reject) => {
              ctx.signal.addEventListener('abort', () => {
                reasons.push(ctx.signal.reason);
                reject(ctx.signal.reason);
              });
            });
          },
        },
      },
      { limit: 2 },
      { url: proxy.urlFor(url), reconnect: { intervalMs: 50, maxIntervalMs: 200 } },
    );
    await server.publish({ name: 'wait', routingKey: queue, args: [1] });
    await server.publish({ name: 'wait', routingKey: queue, args: [2] });
    await until(() => runs.length === 2);
    proxy.cut();
    await until(() => reasons.length === 2);
    for (const reason of reasons) expect(TasksError.hasCode(reason, 'DSP_TASKS_CHANNEL_LOST')).toBe(true);
    await until(() => runs.filter((r) => r.redelivered).length === 2, 15_000, 'redelivery');
    await until(() => worker.stats().succeeded === 2);
  });

  it('restarts the consumer when the broker cancels it (queue deleted) and re-declares the queue', async () => {
    const seen: number[] = [];
    const { server, worker, queue } = await bed.serverWithWorker({
      n: { fn: (args) => seen.push((args as number[])[0]!) },
    });
    const errors: unknown[] = [];
    server.on('error', (event) => errors.push(event.error));
    const channel = await bed.channel();
    await channel.deleteQueue(queue);
    await until(() => errors.length > 0);
    await until(() => worker.consuming, 10_000, 'consumer restarted');
    // The queue and its binding are back: a routed publish reaches the worker.
    await server.publish({ name: 'n', routingKey: queue, args: [7] });
    await until(() => seen.length === 1);
    expect(seen).toEqual([7]);
  });

  it('recovers a worker channel closed by a broker error (406) without losing the task', async () => {
    const attempts: number[] = [];
    const { server, worker, queue } = await bed.serverWithWorker(
      {
        once: {
          fn: (_args, ctx) => {
            attempts.push(ctx.attempt);
            if (ctx.attempt === 1) throw new Error('first attempt fails');
          },
        },
      },
      { retry: { baseMs: 1_000, capMs: 1_000, jitter: 'none', maxAttempts: 3 } },
    );
    // Queues squatting on the retry bucket's name with other arguments: declaring the bucket fails with
    // 406 PRECONDITION_FAILED, which closes the worker's channel. The bucket is picked from the time left
    // when the retry is published (two significant digits), so a busy machine may make it 990 or 910
    // rather than 1000: every name down to 900 is taken.
    const channel = await bed.channel();
    const squatted = Array.from({ length: 11 }, (_, i) => `${queue}.delay.${1_000 - i * 10}`);
    for (const name of squatted) await channel.assertQueue(name, { durable: false, autoDelete: true });
    const errors: unknown[] = [];
    server.on('error', (event) => errors.push(event.error));
    await server.publish({ name: 'once', routingKey: queue });
    await until(() => errors.some((err) => TasksError.hasCode(err, 'DSP_TASKS_BROKER')), 10_000, '406');
    const broker = errors.find((err) => TasksError.hasCode(err, 'DSP_TASKS_BROKER')) as TasksError;
    expect(broker.details).toMatchObject({ replyCode: 406, level: 'channel' });
    for (const name of squatted) await channel.deleteQueue(name);
    // The unacked delivery came back on the recovered channel, failed once more, and its retry succeeded.
    await until(() => attempts.includes(2), 15_000, 'retry after recovery');
    expect(worker.stats().succeeded).toBe(1);
    expect(attempts.filter((a) => a === 1).length).toBeGreaterThanOrEqual(2);
  });

  it('fails start() with DSP_TASKS_CONNECT_FAILED when the broker stays down (never hangs)', async () => {
    proxy.refuse(true);
    const byTimeout = bed.server({ url: proxy.urlFor(url), startTimeoutMs: 300 });
    const started = Date.now();
    await expect(byTimeout.start()).rejects.toMatchObject({ code: 'DSP_TASKS_CONNECT_FAILED' });
    expect(Date.now() - started).toBeLessThan(3_000);

    const byRetries = bed.server({ url: proxy.urlFor(url), reconnect: { retries: 2, intervalMs: 20 } });
    await expect(byRetries.start()).rejects.toMatchObject({ code: 'DSP_TASKS_CONNECT_FAILED' });

    const controller = new AbortController();
    const bySignal = bed.server({ url: proxy.urlFor(url) });
    const refusedBefore = proxy.refused;
    const starting = bySignal.start({ signal: controller.signal });
    // Aborted while start() retries: after a connection attempt was refused.
    await until(() => proxy.refused > refusedBefore, 10_000, 'a refused connection attempt');
    controller.abort();
    await expect(starting).rejects.toMatchObject({ code: 'DSP_TASKS_ABORTED' });
    expect(bySignal.state).toBe('closed');
  });

  it('starts once the broker comes up during start()', async () => {
    proxy.refuse(true);
    const server = bed.server({ url: proxy.urlFor(url), reconnect: { intervalMs: 50, maxIntervalMs: 100 } });
    const starting = server.start();
    // The broker comes up only after start() has been refused twice (it retries, it does not give up).
    await until(() => proxy.refused >= 2, 10_000, 'two refused connection attempts');
    proxy.refuse(false);
    await starting;
    expect(server.connected).toBe(true);
  });

  it('recovers when the broker closes the connection itself (320 CONNECTION_FORCED) mid-task', async () => {
    // RabbitMQ: rabbitmqctl close_connection; ours: BrokerServer.closeConnection() on a broker this test
    // can reach (see serverSideCloser).
    const closer = await serverSideCloser({ name, url });
    const killBed = new TestBed(closer.url);
    let killed = false;
    try {
      const connectionName = uniqueName('conn');
      const done = new Set<number>();
      const redelivered = new Set<number>();
      const { server, worker, queue } = await killBed.serverWithWorker(
        {
          work: {
            fn: async (args, ctx) => {
              const n = (args as number[])[0]!;
              if (ctx.redelivered) redelivered.add(n);
              // Ignores its signal and holds on until the kill: the broker closes the connection under
              // running tasks, however long rabbitmqctl takes.
              while (!killed) await sleep(10);
              await sleep(20);
              done.add(n);
            },
          },
        },
        { limit: 2 },
        { connectionName, reconnect: { intervalMs: 50, maxIntervalMs: 200 } },
      );
      const errors: unknown[] = [];
      let connected = 0;
      server.on('error', (event) => errors.push(event.error));
      server.on('connected', () => connected++);
      await Promise.all(
        Array.from({ length: 10 }, (_, i) => server.publish({ name: 'work', routingKey: queue, args: [i] })),
      );
      await until(() => worker.stats().running === 2);
      const connectedBefore = connected;
      expect(await closer.closeConnectionsNamed(connectionName)).toBe(1);
      killed = true;
      await until(() => done.size === 10, 30_000, 'all tasks done');
      expect([...done].sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => i));
      expect(connected).toBeGreaterThan(connectedBefore);
      // The two that were running when the connection went were requeued by the broker and came back.
      expect(redelivered.size).toBeGreaterThanOrEqual(2);
      expect(worker.stats().droppedAcks).toBeGreaterThanOrEqual(2);
      expect(worker.stats().maxRunning).toBeLessThanOrEqual(2);
      const forced = errors.find((err) => TasksError.hasCode(err, 'DSP_TASKS_BROKER')) as
        | TasksError
        | undefined;
      expect(forced?.details).toMatchObject({ replyCode: 320, level: 'connection' });
    } finally {
      killed = true;
      await killBed.cleanup();
      await closer.close();
    }
  });
  it('re-applies the prefetch after the broker kills the connection: at most `prefetch` delivered, `limit` running', async () => {
    const closer = await serverSideCloser({ name, url });
    const killBed = new TestBed(closer.url);
    let release = false;
    try {
      const connectionName = uniqueName('conn');
      const total = 12;
      const limit = 2;
      const prefetch = 5;
      const done = new Set<number>();
      let running = 0;
      let maxRunning = 0;
      let generation = 0;
      const startsByGeneration = new Map<number, number>();
      const { server, worker, queue } = await killBed.serverWithWorker(
        {
          hold: {
            fn: async (args, ctx) => {
              running++;
              maxRunning = Math.max(maxRunning, running);
              startsByGeneration.set(generation, (startsByGeneration.get(generation) ?? 0) + 1);
              try {
                while (!release && !ctx.signal.aborted) await sleep(10);
                if (ctx.signal.aborted) throw ctx.signal.reason;
                done.add((args as number[])[0]!);
              } finally {
                running--;
              }
            },
          },
        },
        { limit, prefetch },
        { connectionName, reconnect: { intervalMs: 50, maxIntervalMs: 200 } },
      );
      server.on('connected', () => generation++);
      await Promise.all(
        Array.from({ length: total }, (_, i) =>
          server.publish({ name: 'hold', routingKey: queue, args: [i] }),
        ),
      );
      await until(() => running === limit && worker.stats().waiting === prefetch - limit);
      expect(await killBed.messageCount(queue)).toBe(total - prefetch);
      const before = generation;
      expect(await closer.closeConnectionsNamed(connectionName)).toBe(1);
      await until(() => generation > before && worker.consuming, 15_000, 'reconnected');
      await until(
        () => running === limit && worker.stats().waiting === prefetch - limit,
        15_000,
        'tasks running again',
      );
      // Without the prefetch on the new channel the broker would have pushed every ready message to it when
      // it consumed. A consumer that subscribes after it and still gets one shows the queue kept the rest.
      const probe = await connect(closer.url);
      try {
        const ch = await probe.createChannel();
        await ch.prefetch(1);
        await new Promise<void>((resolve, reject) => {
          ch.consume(queue, (m) => m !== null && resolve()).catch(reject);
        });
        expect(running).toBe(limit);
        expect(worker.stats().waiting).toBe(prefetch - limit);
        expect(startsByGeneration.get(generation)).toBe(limit);
        expect(await killBed.messageCount(queue)).toBe(total - prefetch - 1);
      } finally {
        await probe.close(); // the probe's message goes back to the queue
      }
      release = true;
      await until(() => done.size === total, 20_000, 'all tasks done');
      expect(maxRunning).toBeLessThanOrEqual(limit);
      expect(worker.stats().maxRunning).toBeLessThanOrEqual(limit);
    } finally {
      release = true;
      await killBed.cleanup();
      await closer.close();
    }
  });
});
