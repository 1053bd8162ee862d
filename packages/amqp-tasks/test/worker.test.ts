import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTask, TaskHeaders, TasksError, type TasksEventMap, type Worker } from '../src/index.js';
import { brokerTargets } from './brokers.js';
import { sleep, TestBed, uniqueName, until } from './helpers/fixtures.js';
import { TcpProxy } from './helpers/tcp-proxy.js';

const FAST_RETRY = { baseMs: 30, capMs: 100, jitter: 'none', maxAttempts: 3 } as const;

describe.each(brokerTargets())('worker against $name', ({ url }) => {
  let bed: TestBed;
  beforeEach(() => {
    bed = new TestBed(url);
  });
  afterEach(async () => {
    await bed.cleanup();
  });

  it('runs a task, acks it and reports started/succeeded with a duration', async () => {
    const seen: unknown[] = [];
    const { server, worker, queue } = await bed.serverWithWorker({
      add: { fn: (args) => seen.push(args) },
    });
    const succeeded: TasksEventMap['task:succeeded'][] = [];
    server.on('task:succeeded', (event) => succeeded.push(event));
    const uuid = await server.publish({ name: 'add', routingKey: queue, args: [1, 2] });
    await until(() => succeeded.length === 1);
    expect(seen).toEqual([[1, 2]]);
    expect(succeeded[0]).toMatchObject({ uuid, name: 'add', attempt: 1, queue, worker: worker.name });
    expect(succeeded[0]?.durationMs).toBeGreaterThanOrEqual(0);
    const channel = await bed.channel();
    expect((await channel.checkQueue(queue)).messageCount).toBe(0);
    expect(worker.stats()).toMatchObject({ started: 1, succeeded: 1, failed: 0 });
  });

  it('retries a throwing task with backoff through a delay queue, then succeeds', async () => {
    const attempts: Array<{ attempt: number; at: number; lastError: unknown }> = [];
    const { server, worker, queue } = await bed.serverWithWorker(
      {
        flaky: {
          fn: (_args, ctx) => {
            attempts.push({
              attempt: ctx.attempt,
              at: Date.now(),
              lastError: ctx.headers[TaskHeaders.errorCode],
            });
            if (ctx.attempt < 3) throw new Error(`boom ${ctx.attempt}`);
          },
        },
      },
      { retry: { baseMs: 200, capMs: 1_000, jitter: 'none', maxAttempts: 3 } },
    );
    const retried: number[] = [];
    server.on('task:retried', (event) => retried.push(event.delayMs));
    await server.publish({ name: 'flaky', routingKey: queue });
    await until(() => attempts.length === 3);
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
    expect(retried).toEqual([200, 400]);
    // Never earlier than the backoff asked for.
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(195);
    expect(attempts[2]!.at - attempts[1]!.at).toBeGreaterThanOrEqual(395);
    expect(attempts[1]?.lastError).toBe('Error');
    // Settled as a success (a dead-letter copy would have been confirmed before the ack that ends it).
    await until(() => worker.stats().succeeded === 1, 10_000, 'the third attempt settled');
    expect(worker.stats().deadLettered).toBe(0);
    expect(await bed.drain(`${queue}.dead`)).toHaveLength(0);
  });

  it('dead-letters a task after its last attempt with error, attempts and stack in headers', async () => {
    let runs = 0;
    const { server, queue } = await bed.serverWithWorker(
      {
        failing: {
          fn: async () => {
            runs++;
            await sleep(1);
            throw new TasksError('DSP_TASKS_INVALID_ARGUMENT', 'always fails');
          },
        },
      },
      { retry: FAST_RETRY },
    );
    const dead: TasksEventMap['task:dead-lettered'][] = [];
    server.on('task:dead-lettered', (event) => dead.push(event));
    const uuid = await server.publish({ name: 'failing', routingKey: queue, args: ['x'] });
    const [message] = await bed.waitForMessages(`${queue}.dead`, 1);
    expect(runs).toBe(3);
    const headers = message!.properties.headers ?? {};
    expect(headers[TaskHeaders.deadLetterReason]).toBe('failed');
    expect(headers[TaskHeaders.errorCode]).toBe('DSP_TASKS_INVALID_ARGUMENT');
    expect(headers[TaskHeaders.errorMessage]).toBe('always fails');
    expect(String(headers[TaskHeaders.errorStack])).toContain('always fails');
    expect(headers[TaskHeaders.attempts]).toBe(3);
    expect(JSON.parse(message!.content.toString())).toMatchObject({ uuid, name: 'failing', args: ['x'] });
    expect(message!.properties.deliveryMode).toBe(2);
    await until(() => dead.length === 1);
    expect(dead[0]).toMatchObject({ uuid, reason: 'failed', attempt: 3 });
  });

  it('aborts a timed-out task through its signal and never acks it as a success', async () => {
    const reasons: unknown[] = [];
    const { server, queue } = await bed.serverWithWorker(
      {
        slow: {
          timeoutMs: 100,
          fn: (_args, ctx) =>
            new Promise((_resolve, reject) => {
              ctx.signal.addEventListener('abort', () => {
                reasons.push(ctx.signal.reason);
                reject(ctx.signal.reason);
              });
            }),
        },
      },
      { retry: { ...FAST_RETRY, maxAttempts: 2 } },
    );
    let succeeded = 0;
    server.on('task:succeeded', () => succeeded++);
    await server.publish({ name: 'slow', routingKey: queue });
    const [message] = await bed.waitForMessages(`${queue}.dead`, 1);
    expect(reasons).toHaveLength(2);
    for (const reason of reasons) expect(TasksError.hasCode(reason, 'DSP_TASKS_TASK_TIMEOUT')).toBe(true);
    expect(message!.properties.headers?.[TaskHeaders.errorCode]).toBe('DSP_TASKS_TASK_TIMEOUT');
    expect(succeeded).toBe(0);
  });

  it('never runs more than `limit` functions at once, even when timed-out ones ignore their signal', async () => {
    let running = 0;
    let maxRunning = 0;
    let finished = 0;
    const { server, worker, queue } = await bed.serverWithWorker(
      {
        stubborn: {
          timeoutMs: 30,
          fn: async () => {
            running++;
            maxRunning = Math.max(maxRunning, running);
            await sleep(150); // ignores the signal on purpose
            running--;
            finished++;
          },
        },
      },
      { limit: 2, retry: { ...FAST_RETRY, maxAttempts: 1 } },
    );
    await Promise.all(
      Array.from({ length: 6 }, () => server.publish({ name: 'stubborn', routingKey: queue })),
    );
    await bed.waitForMessages(`${queue}.dead`, 6);
    await until(() => finished === 6);
    expect(maxRunning).toBe(2);
    expect(worker.stats().maxRunning).toBe(2);
  });

  it('dead-letters poison messages (bad JSON, unknown content type, unknown task, invalid args) without a requeue loop', async () => {
    const double = defineTask({ name: 'double', schema: z.object({ n: z.number() }) });
    const results: number[] = [];
    const { server, worker, queue } = await bed.serverWithWorker({
      [double.name]: double.handler(({ n }) => {
        results.push(n * 2);
      }),
    });
    const dead: string[] = [];
    server.on('task:dead-lettered', (event) => dead.push(event.reason));
    const channel = await bed.channel();
    const send = (content: string, contentType?: string) =>
      channel.sendToQueue(queue, Buffer.from(content), contentType ? { contentType } : {});
    send('{not json', 'application/vnd.dispatcher.task+json');
    send('{"uuid":"1","name":"double","args":{"n":1}}', 'text/x-weird');
    send('{"uuid":"2","name":"nobody","args":null}', 'application/vnd.dispatcher.task+json');
    send('{"uuid":"3","name":"double","args":{"n":"three"}}', 'application/vnd.dispatcher.task+json');
    send('{"uuid":"4","name":"double","args":[{"type":"int","value":"x"}]}', 'application/json');
    const messages = await bed.waitForMessages(`${queue}.dead`, 5);
    const reasons = messages.map((m) => m.properties.headers?.[TaskHeaders.deadLetterReason]).sort();
    expect(reasons).toEqual(['decode', 'decode', 'decode', 'unknown-task', 'validation']);
    expect(worker.stats().started).toBe(0);
    // The worker is still healthy.
    await server.publish('double', { n: 21 }, { routingKey: queue });
    await until(() => results.length === 1);
    expect(results).toEqual([42]);
    expect((await channel.checkQueue(queue)).messageCount).toBe(0);
    expect(dead).toHaveLength(5);
  });
  it('runs two workers on one server (one connection), each consuming only its own queue', async () => {
    const proxy = await TcpProxy.start(url); // counts the connections the server opens
    let server: ReturnType<typeof bed.server> | undefined;
    try {
      const queues = { a: bed.queue('a'), b: bed.queue('b') };
      const shared = bed.server({
        url: proxy.urlFor(url),
        queues: Object.values(queues).map((name) => ({ name, bindingKeys: [name] })),
      });
      server = shared;
      await shared.start();
      const seen: Array<{ from: string; queue: string; worker: string }> = [];
      const workers = Object.fromEntries(
        (['a', 'b'] as const).map((key) => [
          key,
          shared.newWorker(
            { name: uniqueName(`worker-${key}`), queue: queues[key], limit: 2 },
            // The same task name in both: only the queue decides which worker runs it.
            {
              t: {
                fn: (args, ctx) =>
                  void seen.push({ from: (args as string[])[0]!, queue: ctx.queue, worker: ctx.worker }),
              },
            },
          ),
        ]),
      ) as Record<'a' | 'b', Worker>;
      workers.a.start();
      workers.b.start();
      await until(() => workers.a.consuming && workers.b.consuming);
      for (let i = 0; i < 5; i++) {
        await shared.publish({ name: 't', routingKey: queues.a, args: ['a'] });
        await shared.publish({ name: 't', routingKey: queues.b, args: ['b'] });
      }
      await until(() => seen.length === 10);
      for (const key of ['a', 'b'] as const) {
        const mine = seen.filter((s) => s.worker === workers[key].name);
        expect(mine).toHaveLength(5);
        for (const s of mine) expect(s).toMatchObject({ from: key, queue: queues[key] });
        expect(workers[key].stats()).toMatchObject({ started: 5, succeeded: 5 });
        expect(await bed.messageCount(queues[key])).toBe(0);
      }
      expect(proxy.accepted).toBe(1);
    } finally {
      await server?.close();
      await proxy.close();
    }
  });
});
